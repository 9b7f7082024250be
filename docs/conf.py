"""Sphinx configuration of the documentation site, built by `python tools/docs.py` (`make docs`) from processed copies
of the notebooks (myst-nb shows their stored outputs) and API pages for autodoc; nothing in this folder is generated."""
import inspect, re
from docutils import nodes
from latex2mathml.converter import convert as mathml
import wsvseg

project = 'wsvseg'
release = wsvseg.__version__
extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx.ext.viewcode']

nb_execution_mode = 'off'               # the pages show the outputs stored in the notebooks
myst_enable_extensions = ['dollarmath', 'amsmath']   # the notebooks' $...$ and $$...$$ (the paper's equations)

# The paper's equations as MathML, converted while the site is built (latex2mathml): browsers draw MathML themselves,
# so the pages load no script and no web font for them and work offline, from file:// too.
html_math_renderer = 'mathml'
html_static_path = ['_static']
html_css_files = ['wsvseg.css']
_SCRIPT = dict(zip('ABCDEFGHIJKLMNOPQRSTUVWXYZ', '𝒜ℬ𝒞𝒟ℰℱ𝒢ℋℐ𝒥𝒦ℒℳ𝒩𝒪𝒫𝒬ℛ𝒮𝒯𝒰𝒱𝒲𝒳𝒴𝒵'))

def _latex(text):
    "`text` with \\mathcal X as the Unicode script letter: browsers ignore MathML's mathvariant"
    return re.sub(r'\\mathcal\s*(?:\{([A-Z])\}|([A-Z]))', lambda m: _SCRIPT[m.group(1) or m.group(2)], text)

autodoc_member_order = 'bysource'       # entries in the order of the notebooks
autodoc_inherit_docstrings = False      # the docstrings here are Markdown (see below); torch's are reST
default_role = 'py:obj'                 # `name` in a docstring links to its entry when there is one

html_theme = 'furo'
html_title = f'wsvseg {release}'
html_copy_source = False
html_show_search_summary = False        # the summaries are fetched, which browsers refuse for file:// pages

_markup = re.compile(r'(`[^`]+`|\*\*[^*]+\*\*)')   # `code` and **bold**, the Markdown that docstrings use

def _rst_line(line):
    "`line` of an nbdev docstring (Markdown prose) as reST: `code` and **bold** stay; *, |, _, ` and \\ are plain"
    parts = _markup.split(line)
    for k in range(0, len(parts), 2):
        p = re.sub(r'([\\*|_`])', r'\\\1', parts[k])
        if k > 0 and p and not p[0].isspace(): p = '\\ ' + p           # `name`s: markup may end inside a word
        if k < len(parts) - 1 and p and not p[-1].isspace(): p += '\\ '  # and start inside one
        parts[k] = p
    return ''.join(parts)

def _rst_docstring(app, what, name, obj, options, lines):
    "Docstrings as reST; none for data whose only docstring is its type's (that of `dict` for a dict)"
    if what == 'data' and '\n'.join(lines).strip() == inspect.cleandoc(type(obj).__doc__ or ''): lines.clear()
    lines[:] = map(_rst_line, lines)

def _math(self, node):
    "Inline math as MathML"
    self.body.append(mathml(_latex(node.astext())))
    raise nodes.SkipNode

def _math_block(self, node):
    "Display math (one or more equations, blank-line separated) as MathML blocks"
    parts = [p for p in node.astext().split('\n\n') if p.strip()]
    self.body.append('<div class="math">' + ''.join(mathml(_latex(p), display='block') for p in parts) + '</div>')
    raise nodes.SkipNode

def setup(app):
    app.connect('autodoc-process-docstring', _rst_docstring)
    app.add_html_math_renderer('mathml', (_math, None), (_math_block, None))
