"""The documentation site (`make docs`, tools/docs.py): a page per notebook, an API entry for every exported name,
no broken internal link or image."""
import importlib, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from docs import broken_links


def test_docs_site(tmp_path):
    out = tmp_path/'site'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'docs.py'), '--out', str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert not re.search(r'WARNING|ERROR', r.stderr), r.stderr[-3000:]      # Sphinx's warnings are on stderr
    missing = [nb.name for nb in (ROOT/'nbs').glob('*.ipynb') if not (out/f'{nb.stem}.html').exists()]
    assert not missing, f'notebooks without a page: {missing}'
    api = ''.join(p.read_text() for p in (out/'api').glob('*.html'))
    mods = [f'wsvseg.{p.stem}' for p in (ROOT/'wsvseg').glob('*.py') if not p.stem.startswith('_')]
    names = [f'{m}.{n}' for m in mods for n in importlib.import_module(m).__all__]
    assert names and not [n for n in names if f'id="{n}"' not in api]
    assert not broken_links(out)
    # the paper's equations are MathML, made while building: the pages need no script or font for them
    page = (out/'05_videoseg.html').read_text()
    assert page.count('<math ') >= 3 and 'ℒ' in page and 'MathJax.js' not in page     # \mathcal L: Unicode's ℒ
