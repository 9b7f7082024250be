"""Build the documentation site: one page per notebook (its stored outputs, nothing re-run) and the API of every module.

    python tools/docs.py [--out DIR]     # default _docs; open DIR/index.html

Copies of `nbs/*.ipynb` lose their `#| hide` cells and their `#| ...` directive lines, `api/<module>.rst` pages are
written for `wsvseg/*.py`, and Sphinx (myst-nb, autodoc, viewcode, the furo theme; config in `docs/conf.py`) builds
the site in a temporary folder. Exits 1 if Sphinx fails or a page links to a file or anchor that is not there."""
import argparse, importlib, inspect, shutil, sys, tempfile, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fastcore.nbio import mk_cell, read_nb, write_nb
from sphinx.cmd.build import build_main

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}

def default_exp(nb) -> str | None:
    "The module `nb` exports to (its `#| default_exp`), if any"
    return next((c.directives['default_exp'] for c in nb.cells if 'default_exp' in c.directives), None)

def proc_nb(nb, mod=None):
    "`nb` as the site shows it: no `#| hide` cells, no directive lines, no empty cells, a link to `mod`'s API"
    nb.cells = [c for c in nb.cells if 'hide' not in c.directives]
    for c in nb.cells: c.remove_directives()
    nb.cells = [c for c in nb.cells if c.source.strip() or c.get('outputs')]
    if mod: nb.cells.insert(1, mk_cell(f'Exported to {{py:mod}}`wsvseg.{mod}` (API reference).', 'markdown', id='api'))
    nb.metadata['kernelspec'] = KERNEL
    return nb

def toctree(caption, docs) -> str:
    "A hidden MyST toctree of `docs`: furo's sidebar"
    return '\n'.join(['```{toctree}', ':hidden:', f':caption: {caption}', '', *docs, '```'])

def api_page(mod, nb_name=None) -> str:
    "reST page of `wsvseg.mod`: a link to its notebook, autodoc entries of its classes and functions, then its data"
    m = importlib.import_module(f'wsvseg.{mod}')
    data = [n for n in m.__all__ if not (inspect.isclass(o := getattr(m, n)) or inspect.isroutine(o))]
    lines = [m.__name__, '=' * len(m.__name__), '']
    if nb_name: lines += [f'From the notebook :doc:`/{nb_name}`.', '']
    lines += [f'.. automodule:: {m.__name__}', '   :members:', '   :undoc-members:']
    if data: lines.append(f'   :exclude-members: {", ".join(data)}')   # autodoc skips data without a `#:` comment
    for n in data:
        lines += ['', f'.. autodata:: {m.__name__}.{n}'] + (['   :no-value:'] if len(repr(getattr(m, n))) > 100 else [])
    return '\n'.join(lines) + '\n'

def write_sources(src, nbs=ROOT/'nbs', pkg=ROOT/'wsvseg'):
    "Processed notebooks, their images and the API pages, in `src`"
    exp = {p.stem: default_exp(read_nb(p)) for p in sorted(nbs.glob('*.ipynb'))}
    pages = [n for n in exp if n != 'index']
    nb_of = {m: n for n, m in exp.items() if m}
    mods = [p.stem for p in pkg.glob('*.py') if not p.stem.startswith('_')]
    mods.sort(key=lambda m: (m not in nb_of, nb_of.get(m, m)))     # in notebook order
    (src/'api').mkdir(parents=True)
    for m in mods: (src/'api'/f'{m}.rst').write_text(api_page(m, nb_of.get(m)))
    toc = toctree('Notebooks', pages) + '\n\n' + toctree('API', [f'api/{m}' for m in mods])
    for n, m in exp.items():
        nb = proc_nb(read_nb(nbs/f'{n}.ipynb'), m)
        if n == 'index': nb.cells.append(mk_cell(toc, 'markdown', id='toc'))
        write_nb(nb, src/f'{n}.ipynb')
    if (nbs/'images').exists(): shutil.copytree(nbs/'images', src/'images')

class _Refs(HTMLParser):
    "The ids of an HTML page and the relative links (href/src) it makes"
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.ids.update(a[k] for k in ('id', 'name') if a.get(k))
        self.links += [v for k, v in attrs if k in ('href', 'src') and v and not urlsplit(v).scheme]

def _refs(path):
    p = _Refs()
    p.feed(path.read_text(encoding='utf-8'))
    return p

def broken_links(site) -> list[str]:
    "`page: link` for every relative href/src in `site`'s pages whose file, or anchor in that file, is missing"
    site = Path(site).resolve()
    pages = {p: _refs(p) for p in site.rglob('*.html')}
    bad = []
    for page, refs in pages.items():
        for link in refs.links:
            u = urlsplit(link)
            target = (page.parent/unquote(u.path)).resolve() if u.path else page
            anchored = not u.fragment or target not in pages or unquote(u.fragment) in pages[target].ids
            if not (target.is_file() and anchored): bad.append(f'{page.relative_to(site)}: {link}')
    return bad

def build(out) -> int:
    "Build the site into `out` (replacing it); Sphinx's exit status, or 1 if a link is broken"
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        src, html = Path(tmp)/'src', Path(tmp)/'html'
        write_sources(src)
        rc = build_main(['-q', '-b', 'html', '-c', str(ROOT/'docs'), '-d', f'{tmp}/doctrees', str(src), str(html)])
        if rc: return rc
        shutil.rmtree(out, ignore_errors=True)          # built apart: myst-nb writes figures beside the html folder

        shutil.copytree(html, out)
    bad = broken_links(out)
    for b in bad: print(f'broken link: {b}', file=sys.stderr)
    return int(bool(bad))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=ROOT/'_docs', type=Path, help='the site folder (replaced)')
    out, t0 = ap.parse_args().out, time.time()
    if rc := build(out): sys.exit(f'docs: failed (exit status {rc})')
    print(f'docs: {out.resolve()}/index.html, built in {time.time() - t0:.0f} s')
