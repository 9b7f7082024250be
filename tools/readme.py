"""Render README.md from nbs/index.ipynb (nbdev-readme needs Quarto, which is not available here).

Markdown cells are copied; the title cell's `> summary` line is kept as a quote. `--check` exits 1 if README.md is stale."""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def render():
    nb = json.loads((root/'nbs'/'index.ipynb').read_text())
    parts = [''.join(c['source']).strip() for c in nb['cells'] if c['cell_type'] == 'markdown']
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, out = render(), root/'README.md'
    if '--check' in sys.argv:
        if not out.exists() or out.read_text() != text: sys.exit('README.md is stale: run python tools/readme.py')
    else: out.write_text(text)
