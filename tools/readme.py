"""Render README.md from nbs/index.ipynb (nbdev-readme needs Quarto, which is not available here).

Markdown cells are copied; code cells that are not hidden (`#| hide`) become Python blocks, followed by the text they
printed when the notebook was last run. `--check` exits 1 if README.md is stale."""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def _code(c) -> str:
    src = ''.join(c['source']).strip()
    out = ''.join(''.join(o.get('text', '')) for o in c.get('outputs', []) if o.get('output_type') == 'stream')
    return f'```python\n{src}\n```' + (f'\n\n```\n{out.rstrip()}\n```' if out.strip() else '')

def render():
    nb = json.loads((root/'nbs'/'index.ipynb').read_text())
    parts = []
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'markdown': parts.append(src.replace('](images/', '](nbs/images/'))  # paths from the root
        elif c['cell_type'] == 'code' and not src.startswith('#|'): parts.append(_code(c))
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, out = render(), root/'README.md'
    if '--check' in sys.argv:
        if not out.exists() or out.read_text() != text: sys.exit('README.md is stale: run python tools/readme.py')
    else: out.write_text(text)
