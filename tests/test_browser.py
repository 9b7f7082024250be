"""The run report and the docs site, checked in a real browser (headless Chromium through selenium, tools/browser.py):
every image loads, no console error is logged, every internal link resolves, and each page is screenshotted.

The checker is tested first on small pages written here, good and broken, so that it can't pass vacuously. Without
Chromium, chromedriver or selenium the browser tests are skipped with a message that says what to install
(`apt-get install -y chromium chromium-driver`, `pip install selenium`); .ci/run installs them on a clean machine.
Each expensive build (the demo run, the docs site) is used by one test only, so that under pytest-xdist no two
workers build it twice."""
import base64, importlib.util, re, struct, subprocess, sys, zlib
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_spec = importlib.util.spec_from_file_location('wsvseg_tools_browser', ROOT/'tools'/'browser.py')
browser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser)

MISSING = browser.chromium_missing()
needs_chromium = pytest.mark.skipif(MISSING is not None, reason=MISSING or '')


def _png(w=4, h=3, rgb=b'\xff\x00\x00') -> bytes:
    "A small solid PNG, written by hand."
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    raw = b''.join(b'\x00' + rgb*w for _ in range(h))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def _png_size(p: Path) -> tuple[int, int]:
    "(width, height) of a PNG file; fails unless it is a non-empty PNG."
    b = Path(p).read_bytes()
    assert len(b) > 100 and b[:8] == b'\x89PNG\r\n\x1a\n' and b[12:16] == b'IHDR', f'{p} is not a PNG'
    return struct.unpack('>II', b[16:24])


def _page(title, body):
    return f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body>{body}</body></html>'


DATA_PNG = 'data:image/png;base64,' + base64.b64encode(_png()).decode()
PAGES = {
    'good': _page('Good', f'<h1 id="head">Good</h1><img alt="red" src="{DATA_PNG}" width="40">'
                          '<p><a href="two.html#sec">two</a> <a href="two.html#old">old anchor</a> '
                          '<a href="#head">here</a> <a href="sub/three.html">three</a> <a href="#">top</a> '
                          '<a href="https://example.org/x">external</a> <a href="mailto:a@example.org">mail</a></p>'
                          '<div style="height:2500px;background:#ddf">tall</div><p id="end">end</p>'),
    'two': _page('Two', '<h2 id="sec">Section</h2><a name="old"></a><a href="good.html#end">back</a>'),
    'sub/three': _page('Three', f'<img src="../img.png"><a href="../two.html">up</a>'),
    'missing_image': _page('Missing image', '<img src="missing.png">'),
    'console_error': _page('Console error', "<script>console.error('x')</script>"),
    'exception': _page('Exception', "<script>throw new Error('boom')</script>"),
    'missing_file': _page('Missing file', '<a href="nope.html">nope</a>'),
    'missing_anchor': _page('Missing anchor', '<a href="two.html#nosuch">nosuch</a>'),
}


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp('pages')
    (d/'sub').mkdir()
    (d/'img.png').write_bytes(_png(30, 20, b'\x00\x80\x00'))
    for name, text in PAGES.items(): (d/f'{name}.html').write_text(text)
    return d


@pytest.fixture(scope='module')
def checked(site, tmp_path_factory):
    "The checker's verdict on every small page, from one browser session."
    shots = tmp_path_factory.mktemp('shots')
    return {Path(r['page']).relative_to(site).with_suffix('').as_posix(): r
            for r in browser.check_pages([site/f'{n}.html' for n in PAGES], shots)}


def _ok(r):
    assert not r['broken_images'] and not r['console_errors'] and not r['broken_links'], r


def test_missing_chromium_says_what_to_install(monkeypatch):
    monkeypatch.setattr(browser, 'CHROMIUM', '/nonexistent/chromium')
    monkeypatch.setattr(browser, 'CHROMEDRIVER', '/nonexistent/chromedriver')
    monkeypatch.setattr(browser.shutil, 'which', lambda name: None)
    msg = browser.chromium_missing()
    assert msg and 'apt-get install -y chromium chromium-driver' in msg and 'chromedriver' in msg, msg


@needs_chromium
def test_good_pages_pass(checked):
    for n in ('good', 'two', 'sub/three'): _ok(checked[n])
    g = checked['good']
    assert g['title'] == 'Good' and g['images'] == 1
    assert g['links'] == 5 and g['external_links'] == ['https://example.org/x'], g   # 5 internal; mailto: not followed
    assert checked['sub/three']['images'] == 1 and checked['sub/three']['links'] == 1
    w, h = _png_size(g['screenshot'])
    assert g['screenshot'].name == 'good.png' and w == 1280 and h >= 2500, (w, h)     # the whole page, not the window


@needs_chromium
def test_broken_pages_are_caught(checked):
    r = checked['missing_image']
    assert len(r['broken_images']) == 1 and r['broken_images'][0].endswith('/missing.png'), r
    r = checked['console_error']
    assert len(r['console_errors']) == 1 and '"x"' in r['console_errors'][0] and not r['broken_links'], r
    r = checked['exception']
    assert len(r['console_errors']) == 1 and 'Uncaught Error: boom' in r['console_errors'][0], r
    r = checked['missing_file']
    assert len(r['broken_links']) == 1 and r['broken_links'][0].startswith('nope.html: no such file'), r
    assert not r['console_errors'] and not r['broken_images'], r
    r = checked['missing_anchor']
    assert r['broken_links'] == ['two.html#nosuch: no element with id or name "nosuch"'], r
    for r in checked.values(): assert _png_size(r['screenshot'])[0] == 1280


@needs_chromium
def test_command_line_exits_1_on_a_broken_page(site, tmp_path):
    cmd = [sys.executable, str(ROOT/'tools'/'browser.py'), '--shots', str(tmp_path/'shots')]
    r = subprocess.run(cmd + [str(site/'good.html'), str(site/'missing_file.html')], capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith('ok') and 'good.html: 1 images (0 broken)' in lines[0], r.stdout
    assert lines[1].startswith('BROKEN') and 'missing_file.html' in lines[1] and 'nope.html' in r.stdout, r.stdout
    assert sorted(p.name for p in (tmp_path/'shots').iterdir()) == ['good.png', 'missing_file.png']
    r = subprocess.run(cmd + [str(site/'good.html')], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _shown(results):
    "The test's closing words for a failure: each page's problems."
    return '\n'.join(f'{r["page"]}: images {r["broken_images"]}, links {r["broken_links"]}, '
                     f'console {r["console_errors"]}' for r in results)


# ---- the real pages: the demo run's report and the docs site ----

@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    run = tmp_path_factory.mktemp('demo')/'run'
    r = subprocess.run([str(BIN/'wsvseg-demo'), '--run', str(run), '--quick'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return run


@needs_chromium
def test_report_in_browser(demo_run, tmp_path):
    page = demo_run/'report'/'index.html'
    assert page.exists(), f'wsvseg-demo wrote no {page.relative_to(demo_run)}: {sorted(p.name for p in page.parent.iterdir())}'
    [r] = browser.check_pages([page], tmp_path/'shots')
    assert not browser.is_broken(r), _shown([r])
    figures = re.findall(r'!\[[^\]]*\]\(', (demo_run/'report'/'report.md').read_text())
    assert r['title'] and r['images'] >= max(len(figures), 1), (r['images'], len(figures))
    _png_size(r['screenshot'])


def _docs_pages(out: Path) -> list[Path]:
    "index.html and three pages of the built site: a notebook with figures, one with code outputs, the API page."
    pages = [p for p in sorted(out.rglob('*.html')) if not any(s.startswith(('_', '.')) for s in p.relative_to(out).parts)
             and p.name not in ('genindex.html', 'search.html', 'py-modindex.html')]
    def find(what, *pats):
        for pat in pats:
            hit = [p for p in pages if re.search(pat, p.relative_to(out).as_posix(), re.I)]
            if hit: return hit[0]
        pytest.fail(f'the docs site in {out} has no {what} page (looked for {pats}) among {[p.name for p in pages]}')
    return [out/'index.html', find('world notebook (figures)', r'^\d+_world\.html$', r'^[^/]*world[^/]*$'),
            find('evaluate notebook (code outputs)', r'^\d+_evaluate\.html$', r'^[^/]*evaluate[^/]*$'),
            find('API', r'^api/index\.html$', r'^api/world\.html$', r'^api/', r'api')]


@pytest.fixture(scope='module')
def docs_site(tmp_path_factory):
    tool = ROOT/'tools'/'docs.py'
    if not tool.exists(): pytest.skip('tools/docs.py not found')
    out = tmp_path_factory.mktemp('docs')/'site'
    r = subprocess.run([sys.executable, str(tool), '--out', str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and (out/'index.html').exists(), r.stdout[-3000:] + r.stderr[-3000:]
    return out


@needs_chromium
def test_docs_in_browser(docs_site, tmp_path):
    pages = _docs_pages(docs_site)
    results = browser.check_pages(pages, tmp_path/'shots')
    assert not any(map(browser.is_broken, results)), _shown(results)
    by = dict(zip(('index', 'world', 'evaluate', 'api'), results))
    assert by['world']['images'] >= 1, by['world']                    # the world notebook's figures are on its page
    assert all(r['title'] and r['links'] > 0 for r in results), [(r['page'], r['title'], r['links']) for r in results]
    assert len({r['screenshot'] for r in results}) == 4
    for r in results: _png_size(r['screenshot'])
