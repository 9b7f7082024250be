"""Open pages in headless Chromium and check that they render: every image loads, nothing is logged as a console
error, every internal link resolves; save a full-page screenshot of each.

    python tools/browser.py runs/demo/report/index.html docs/index.html --shots /tmp/shots    # exit 1 if broken

    from browser import check_pages, chromium_missing
    if (why := chromium_missing()): print(why)
    for r in check_pages(['a.html', 'b.html'], Path('shots')): print(r['page'], r['broken_links'])

It needs Debian's `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`) and selenium
(`pip install selenium`). Pages are given as paths or URLs. A link is internal when it is relative or file:// (or,
on a page served over http, on the same host); its target file must exist and its #fragment must name an element
id or an <a name> there. External links are listed, not followed: no network is used."""
from __future__ import annotations

import argparse
import html.parser
import importlib.util
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
INSTALL = 'apt-get install -y chromium chromium-driver'
MAX_SHOT_HEIGHT = 8000


def _exe(default: str, name: str) -> str | None:
    "`default` when it is there, else `name` on PATH."
    return default if os.access(default, os.X_OK) else shutil.which(name)


def chromium_missing() -> str | None:
    "None when headless Chromium can be driven here, else a message that says what to install."
    missing, fix = [], []
    if not _exe(CHROMIUM, 'chromium'): missing.append('chromium')
    if not _exe(CHROMEDRIVER, 'chromedriver'): missing.append('chromedriver')
    if missing: fix.append(f'`{INSTALL}` (as root)')
    if importlib.util.find_spec('selenium') is None:
        missing.append('selenium')
        fix.append('`pip install selenium` (in the virtual environment)')
    if not missing: return None
    return f'browser check needs {", ".join(missing)}: install with ' + ' and '.join(fix)


def _url(page) -> str:
    "A page given as a URL stays one; a path becomes a file:// URL."
    s = str(page)
    if urllib.parse.urlsplit(s).scheme in ('file', 'http', 'https'): return s
    return Path(s).resolve().as_uri()


class _Anchors(html.parser.HTMLParser):
    "The ids and <a name>s of an HTML document: the fragments a link into it may name."
    def __init__(self):
        super().__init__()
        self.names = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if v is not None and (k == 'id' or (k == 'name' and tag == 'a')): self.names.add(v)


def _anchors(text: str) -> set[str]:
    p = _Anchors()
    p.feed(text)
    return p.names


def _fragment_ok(frag: str, names) -> bool:
    "An empty fragment and `#top` scroll to the top of any page (HTML spec); any other must be an id or <a name>."
    frag = urllib.parse.unquote(frag)
    return frag == '' or frag.lower() == 'top' or frag in names


class _Targets:
    "Fetches (and caches) the targets of internal links: their text and anchors, or why they don't resolve."
    def __init__(self):
        self.cache = {}

    def get(self, url: str) -> tuple[str | None, set[str]]:
        "(None, anchors) when `url` (no fragment) resolves, else (reason, set())."
        if url not in self.cache: self.cache[url] = self._load(url)
        return self.cache[url]

    def _load(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme == 'file':
            p = Path(urllib.request.url2pathname(u.path))
            if p.is_dir(): p = p/'index.html'
            if not p.is_file(): return f'no such file: {p}', set()
            return None, (_anchors(p.read_text(errors='replace')) if p.suffix in ('.html', '.htm') else set())
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                kind, body = r.headers.get_content_type(), r.read()
        except Exception as e: return f'{type(e).__name__}: {e}', set()
        return None, (_anchors(body.decode(errors='replace')) if kind == 'text/html' else set())


def _internal(link: str, page: str) -> bool | None:
    "True for an internal link, False for an external one, None for one that isn't followed (mailto:, javascript:)."
    l, p = urllib.parse.urlsplit(link), urllib.parse.urlsplit(page)
    if l.scheme == 'file': return True
    if l.scheme in ('http', 'https'): return p.scheme in ('http', 'https') and l.netloc == p.netloc
    return None


# the page's images, links and ids, read from the live DOM; images are decoded to tell a broken one from an SVG
# with no intrinsic size (naturalWidth 0 but fine)
_READ_PAGE = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
Promise.allSettled(imgs.map(i => i.decode())).then(rs => done({
  title: document.title,
  images: imgs.map((i, k) => ({src: i.currentSrc || i.getAttribute('src') || '', width: i.naturalWidth,
                              decoded: rs[k].status === 'fulfilled'})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => ({raw: a.getAttribute('href'), url: a.href})),
  anchors: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
}));
"""
_IMAGES_DONE = "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"
_HEIGHT = ("return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0,"
           " document.documentElement.clientHeight)")


def _driver(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = _exe(CHROMIUM, 'chromium') or CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
              f'--window-size={width},{height}', '--hide-scrollbars'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    d = webdriver.Chrome(service=Service(_exe(CHROMEDRIVER, 'chromedriver') or CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(120)
    d.set_script_timeout(60)
    return d


def _fit(d, width: int, height: int, max_height: int):
    "Size the window so that its viewport (less than the window: browser furniture) holds the page, within bounds."
    extra = d.execute_script('return window.outerHeight - window.innerHeight') or 0
    d.set_window_size(width, min(max(height, d.execute_script(_HEIGHT)), max_height) + extra)


def _shot_name(url: str, taken: set[str]) -> str:
    "A screenshot name from the page's file name, made unique with its folder's name (report-index) or a number."
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    stem = path.stem or path.name or 'page'
    cands = [stem, f'{path.parent.name}-{stem}'] + [f'{stem}-{i}' for i in range(2, 1000)]
    name = next(c for c in cands if c and c not in taken)
    taken.add(name)
    return name


def _short(s: str, n: int = 120) -> str:
    return s if len(s) <= n else s[:n] + '...'


def _check_one(d, page, shots: Path, width: int, height: int, max_height: int, targets: _Targets, taken: set[str],
               timeout: float) -> dict:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    url = _url(page)
    d.get_log('browser')                          # drop what an earlier page left
    d.set_window_size(width, height)
    d.get(url)
    wait = WebDriverWait(d, timeout, poll_frequency=0.1)
    wait.until(lambda d: d.execute_script("return document.readyState") == 'complete')
    d.execute_script("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    _fit(d, width, height, max_height)
    try: wait.until(lambda d: d.execute_script(_IMAGES_DONE))
    except TimeoutException: pass                 # the images still loading are reported as broken below
    info = d.execute_async_script(_READ_PAGE)
    # layout may have changed as images came in: size the window to the page once more, then take the picture
    _fit(d, width, height, max_height)
    time.sleep(0.2)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots/f'{_shot_name(url, taken)}.png'
    d.save_screenshot(str(shot))
    here = set(info['anchors'])
    broken_links, external, internal = [], [], 0
    for l in info['links']:
        kind = _internal(l['url'], url)
        if kind is None: continue
        if not kind:
            external.append(l['url'])
            continue
        internal += 1
        target, _, frag = l['url'].partition('#')
        target = urllib.parse.urlunsplit(urllib.parse.urlsplit(target)._replace(query=''))
        same = target == urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(query='', fragment=''))
        why, names = (None, here) if same else targets.get(target)
        if why: broken_links.append(f'{l["raw"]}: {why}')
        elif not _fragment_ok(frag, names): broken_links.append(f'{l["raw"]}: no element with id or name "{frag}"')
    logs = d.get_log('browser')
    return dict(page=str(page), url=url, title=info['title'], images=len(info['images']),
                broken_images=[_short(i['src']) for i in info['images'] if i['width'] == 0 and not i['decoded']],
                console_errors=[e['message'] for e in logs if e['level'] == 'SEVERE'],
                links=internal, broken_links=broken_links, external_links=sorted(set(external)), screenshot=shot)


def check_pages(pages, shots: Path, width: int = 1280, height: int = 900, max_height: int = MAX_SHOT_HEIGHT,
                timeout: float = 60) -> list[dict]:
    """Open each page (a path or URL) in one headless Chromium session and check it. Returns one dict a page:
    page, url, title, images (how many), broken_images (their src), console_errors (SEVERE console messages),
    links (internal ones checked), broken_links ('href: why'), external_links (listed, not followed) and
    screenshot (shots/NAME.png: the whole page, or its first max_height px). `timeout` (s) bounds the wait for a
    page and its images; an image still loading then is reported broken."""
    if (why := chromium_missing()): raise RuntimeError(why)
    shots, targets, taken = Path(shots), _Targets(), set()
    d = _driver(width, height)
    try: return [_check_one(d, p, shots, width, height, max_height, targets, taken, timeout) for p in pages]
    finally: d.quit()


def is_broken(r: dict) -> bool:
    return bool(r['broken_images'] or r['console_errors'] or r['broken_links'])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('pages', nargs='+', metavar='PAGE', help='an HTML file or a URL')
    ap.add_argument('--shots', type=Path, default=Path('browser-shots'),
                    help='folder for the screenshots, one PNG a page (default: browser-shots)')
    ap.add_argument('--width', type=int, default=1280)
    ap.add_argument('--height', type=int, default=900, help='the least window height; pages are shot full length')
    ap.add_argument('--max-height', type=int, default=MAX_SHOT_HEIGHT, help='the most a screenshot shows (px)')
    a = ap.parse_args(argv)
    if (why := chromium_missing()):
        print(why, file=sys.stderr)
        return 2
    bad = 0
    for r in check_pages(a.pages, a.shots, a.width, a.height, a.max_height):
        bad += is_broken(r)
        print(f'{"BROKEN" if is_broken(r) else "ok":6} {r["page"]}: {r["images"]} images '
              f'({len(r["broken_images"])} broken), {r["links"]} internal links ({len(r["broken_links"])} broken, '
              f'{len(r["external_links"])} external), {len(r["console_errors"])} console errors -> {r["screenshot"]}')
        for k in ('broken_images', 'broken_links', 'console_errors'):
            for x in r[k]: print(f'       {k.replace("_", " ")[:-1]}: {x}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
