"""A loopback video site for the crawl tests and the crawl benchmark (issue 11): an `http.server` on 127.0.0.1 that
serves search pages yt-dlp's generic extractor lists as playlists, RSS feeds, single-video pages with og:video /
og:image, mp4s encoded from the built-in world's videos with known key-frames, JPEG thumbnails, and broken entries.

Every served frame and thumbnail carries a stamp: a band of black/white blocks along its top edge that encodes a
number. `CodeScorer` reads the stamp back and returns the class probabilities the site assigned to that picture, so a
crawl scored with it is exact and fast (no encoder), and its expected outcome is known in advance (`SiteSpec`).

    spec = build_site(folder)                          # world videos -> mp4s, thumbnails, the score table
    with serve_site(spec) as site:                     # a ThreadingHTTPServer on 127.0.0.1:<free port>
        source = site.template('search')               # 'http://127.0.0.1:PORT/search?q={query}'
        ... crawl(spec.scorer(), spec.classes, run, cfg) ...
        site.hits['/media/v003.mp4'], site.clients     # requests per path; every client address seen
"""
from __future__ import annotations

import html
import json
import socket
import threading
import time
import urllib.parse
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------------------------------------
# Stamps: a picture's identity written into its pixels, robust to H.264 and JPEG.

BLOCK = 4                # block width, pixels: a W-pixel-wide picture holds W // 4 blocks
CHECK_BITS = 4           # the number mod 16, to reject a misread band
BAND = 8                 # band height, pixels


def _blocks(W: int) -> int: return W // BLOCK


def stamp(img: np.ndarray, code: int) -> np.ndarray:
    "A copy of `img` (H, W, 3) whose top `BAND` rows are W // 4 black/white blocks encoding `code` (64 px: < 4096)."
    img = np.array(img, np.uint8, copy=True)
    H, W = img.shape[:2]
    n = _blocks(W)
    if n < 8 or H < 2 * BAND: raise ValueError(f'image {W}x{H} too small to stamp')
    if not 0 < code < 2 ** (n - CHECK_BITS): raise ValueError(f'code {code} not in 1..{2 ** (n - CHECK_BITS) - 1}')
    word = (code << CHECK_BITS) | (code % 2 ** CHECK_BITS)
    edges = np.linspace(0, W, n + 1).round().astype(int)
    for b in range(n):
        img[:BAND, edges[b]:edges[b + 1]] = 255 if word >> (n - 1 - b) & 1 else 0
    return img


def read_code(img: np.ndarray) -> int | None:
    "The number `stamp` wrote into `img`, or None where the band is not a valid stamp."
    img = np.asarray(img)
    H, W = img.shape[:2]
    n = _blocks(W)
    if n < 8 or H < 2 * BAND: return None
    grey = img[2:BAND - 2].astype(np.float32)
    if grey.ndim == 3: grey = grey.mean(axis=-1)
    edges = np.linspace(0, W, n + 1).round().astype(int)
    word = 0
    for b in range(n):
        lo, hi = edges[b], edges[b + 1]
        mid = grey[:, lo + (hi - lo) // 4: hi - (hi - lo) // 4].mean()
        word = word << 1 | int(mid > 127)
    code = word >> CHECK_BITS
    return code if code and code % 2 ** CHECK_BITS == word & (2 ** CHECK_BITS - 1) else None


class CodeScorer:
    "score(frames (N, H, W, 3) uint8) -> (N, C) probabilities looked up by each picture's stamp (uniform if none)."
    def __init__(self, table: dict, n_classes: int):
        self.table = {int(k): np.asarray(v, np.float32) for k, v in table.items()}
        self.n_classes = n_classes
        self.calls = 0                     # pictures scored (frames and thumbnails), to count scoring work
        self.unknown = 0                   # pictures without a readable stamp

    def __call__(self, frames) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim == 3: frames = frames[None]
        out = np.full((len(frames), self.n_classes), 1.0 / self.n_classes, np.float32)
        for i, f in enumerate(frames):
            p = self.table.get(read_code(f))
            if p is None: self.unknown += 1
            else: out[i] = p
        self.calls += len(frames)
        return out

    @classmethod
    def load(cls, path) -> 'CodeScorer':
        "The scorer of a site saved by `SiteSpec.save` (for a crawl run in another process)."
        d = json.loads(Path(path).read_text())
        return cls(d['table'], len(d['classes']))


def probs(n_classes: int, c: int, s: float) -> list:
    "A probability vector giving class index `c` probability `s` and the rest evenly."
    p = [(1 - s) / (n_classes - 1)] * n_classes
    p[c] = s
    return [round(x, 6) for x in p]


# ---------------------------------------------------------------------------------------------------------------------
# The site's content.

BAD_TITLE = '../../etc/x\\..\\y; rm -rf ~ $(id) `id` | cat > /tmp/z & "q" \'s\' *?<a>'
KINDS = ('ok', 'missing', 'truncated', 'text', 'slow', 'cut', 'dup', 'badtitle', 'long', 'gated')
# ok         a good video
# missing    its media answers 404
# truncated  the first 60% of the mp4, with a Content-Length that says so
# text       a text file served as video/mp4
# slow       its media answers only after `slow_seconds` (more than the crawl's socket time-out)
# cut        a Content-Length of the whole file, the connection closed half-way
# dup        listed twice on the HTML page (same URL); once in the RSS feed, under the first entry's guid (same id)
# badtitle   a title with path separators and shell characters (RSS title, og:title; classes[0]'s HTML page title)
# long       the RSS feed says it lasts 9999 s (dropped before download when the listing gives durations)
# gated      its media sends half its bytes, then waits for `site.gate` (to kill a crawl in the middle of a download)


@dataclass
class Video:
    "One served video: what a search lists and what the crawl should make of it."
    name: str             # file stem: /media/<name>.mp4, /thumbs/<name>.jpg, /watch/<name>
    query: str            # the keyword whose search lists it
    cls: str              # its true class (the world video's query class)
    kind: str             # one of KINDS
    title: str
    fps: float
    n_frames: int
    gop: int
    thumb_code: int
    thumb_probs: list     # class probabilities of its thumbnail
    frame_codes: list     # stamp of frame t
    frame_scores: list    # probability of `cls` in frame t
    size: int = 0         # bytes of the mp4

    @property
    def duration(self) -> float: return self.n_frames / self.fps
    @property
    def keyframes(self) -> list: return [t / self.fps for t in range(0, self.n_frames, self.gop)]
    @property
    def media(self) -> str: return f'/media/{self.name}.mp4'
    @property
    def thumb(self) -> str: return f'/thumbs/{self.name}.jpg'
    @property
    def page(self) -> str: return f'/watch/{self.name}'
    @property
    def listed_duration(self) -> float: return 9999.0 if self.kind == 'long' else self.duration


@dataclass
class SiteSpec:
    "Everything a site serves and what a crawl of it should give; `folder` holds the mp4s and thumbnails."
    folder: str
    classes: list
    videos: list = field(default_factory=list)
    table: dict = field(default_factory=dict)      # stamp -> class probabilities
    page_titles: dict = field(default_factory=dict)

    def video(self, name) -> Video: return next(v for v in self.videos if v.name == name)
    def by_media(self, path) -> Video: return next(v for v in self.videos if v.media == path)

    def listing(self, query, kind='search') -> list:
        "The videos the `kind` ('search' or 'feed') page for `query` lists, in order (on 'search', a `dup` twice)."
        out = []
        for v in self.videos:
            if v.query != query: continue
            out.append(v)
            if v.kind == 'dup' and kind == 'search': out.append(v)
        return out

    def thumb_score(self, v: Video) -> float:
        "Its thumbnail's probability for the class it was searched for."
        return v.thumb_probs[self.classes.index(v.query)]

    def passes(self, threshold: float) -> list:
        "Videos whose thumbnail passes `threshold` for their query (the crawl downloads, or tries, exactly these)."
        return [v for v in self.videos if self.thumb_score(v) >= threshold]

    def expected_keyframes(self, v: Video, max_keyframes: int, threshold: float) -> list:
        "Times (s, ascending) of the key-frames a crawl keeps: the top `max_keyframes` scoring at least `threshold`."
        sc = [(v.frame_scores[round(t * v.fps)], t) for t in v.keyframes]
        top = sorted((x for x in sc if x[0] >= threshold), reverse=True)[:max_keyframes]
        return sorted(t for _, t in top)

    def scorer(self) -> CodeScorer: return CodeScorer(self.table, len(self.classes))

    def masks(self, name, cls=None) -> np.ndarray:
        "(T, H, W) bool: where video `name` shows objects of class `cls` (default its own class), not in the band."
        d = np.load(Path(self.folder) / 'masks' / f'{name}.npz')
        cls = cls or self.video(name).cls
        ks = [k + 1 for k, n in enumerate(d['names']) if n == cls]
        return np.isin(d['instances'], ks)

    def locate(self, frames) -> list:
        "[(video name, frame index)] of decoded frames, from their stamps (None where unreadable)."
        idx = {c: (v.name, t) for v in self.videos for t, c in enumerate(v.frame_codes)}
        return [idx.get(read_code(f)) for f in frames]

    def save(self, path=None) -> Path:
        path = Path(path or Path(self.folder) / 'site.json')
        d = dict(folder=self.folder, classes=self.classes, videos=[asdict(v) for v in self.videos],
                 table={str(k): v for k, v in self.table.items()}, page_titles=self.page_titles)
        path.write_text(json.dumps(d))
        return path

    @classmethod
    def load(cls, path) -> 'SiteSpec':
        d = json.loads(Path(path).read_text())
        d['videos'] = [Video(**v) for v in d['videos']]
        d['table'] = {int(k): v for k, v in d['table'].items()}
        return cls(**d)


def _frame_scores(masks) -> list:
    "Probability of the video's class per frame: 0.81..0.99 growing with the object's area where it shows, else 0.03."
    area = masks.reshape(len(masks), -1).sum(1).astype(float)
    top = max(area.max(), 1.0)
    return [round(0.81 + 0.18 * a / top, 4) if a > 0 else 0.03 for a in area]


ON_SCORES = (0.97, 0.9, 0.84, 0.6)     # thumbnails of on-class results cycle through these (0.6 fails 0.8)


def default_layout(classes, per_class=4, off_class=2, broken=True) -> list:
    "[(query, true class, kind)]: per keyword `per_class` on-class and `off_class` off-class results, then breakage."
    rows, C = [], len(classes)
    for q in classes:
        rows += [(q, q, 'ok')] * per_class
        others = [c for c in classes if c != q]
        rows += [(q, others[j % len(others)], 'ok') for j in range(off_class)]
    if broken:
        extra = ('missing', 'truncated', 'text', 'slow', 'cut', 'dup', 'badtitle', 'long')
        rows += [(classes[i % C], classes[i % C], k) for i, k in enumerate(extra)]
    return rows


def build_site(folder, classes=('aeroplane', 'bird', 'car'), layout=None, size=(64, 48), frames=30, fps=10, gop=6,
               seed=0, thumb_quality=90, on_scores=ON_SCORES, **layout_kw) -> SiteSpec:
    """Encode a site into `folder`: one world video per layout row (true class = the row's class), its mp4 with a
    key-frame every `gop` frames, a JPEG thumbnail (its frame where the object is largest), every picture stamped,
    and its objects' masks (`masks/<name>.npz`, for scoring what the labeller makes of the clips)."""
    from wsvseg.core import WorldConfig
    from wsvseg.world import make_video, world_rng
    from wsvseg.data import write_video, save_image
    folder = Path(folder)
    (folder / 'media').mkdir(parents=True, exist_ok=True)
    (folder / 'thumbs').mkdir(parents=True, exist_ok=True)
    (folder / 'masks').mkdir(parents=True, exist_ok=True)
    classes = list(classes)
    layout = layout or default_layout(classes, **layout_kw)
    static = tuple(c for c in WorldConfig().static_classes if c in classes)
    wcfg = WorldConfig(seed=seed, classes=tuple(classes), static_classes=static, size=tuple(size), frames=frames,
                       fps=fps, n_videos=len(layout))
    C = len(classes)
    spec = SiteSpec(str(folder), classes)
    for q in classes: spec.page_titles[q] = f'Videos of {q}'
    spec.page_titles[classes[0]] = BAD_TITLE
    code = 0
    n_on = Counter()
    for j, (q, c, kind) in enumerate(layout):
        ci = classes.index(c)
        wv = make_video(wcfg, world_rng(wcfg, 'videos', j), ci + 1, f'v{j:03d}')
        scores = _frame_scores(wv.masks)
        codes, stamped = [], []
        for t, f in enumerate(wv.frames):
            code += 1
            codes.append(code); stamped.append(stamp(f, code))
            spec.table[code] = probs(C, ci, scores[t])
        if c == q and kind == 'ok':
            s = on_scores[n_on[q] % len(on_scores)]; n_on[q] += 1
            tp = probs(C, ci, s)
        elif c == q: tp = probs(C, ci, 0.95)
        else:                                   # off-class: its own class is clear, the query's is low
            tp = probs(C, ci, 0.9); qi = classes.index(q)
            tp[qi] = 0.02; tp[ci] = round(1 - sum(x for k, x in enumerate(tp) if k != ci), 6)
        code += 1
        spec.table[code] = tp
        best = int(np.argmax(wv.masks.reshape(frames, -1).sum(1)))
        save_image(folder / 'thumbs' / f'{wv.name}.jpg', stamp(wv.frames[best], code), quality=thumb_quality)
        p = write_video(folder / 'media' / f'{wv.name}.mp4', stamped, fps, gop=gop)
        inst = wv.instances.copy(); inst[:, :BAND] = 0          # every object's pixels; the stamp hides the band
        names = np.array([o['name'] or '' for o in wv.objects])
        np.savez_compressed(folder / 'masks' / f'{wv.name}.npz', instances=inst, names=names)
        title = BAD_TITLE if kind == 'badtitle' else f'{q} video {j}'
        spec.videos.append(Video(wv.name, q, c, kind, title, fps, frames, gop, code, tp, codes, scores,
                                 p.stat().st_size))
    spec.save()
    return spec


# ---------------------------------------------------------------------------------------------------------------------
# The server.

def _search_html(spec, base, q) -> str:
    title = spec.page_titles.get(q, f'No results for {q}')
    tags = ''.join(f'<div class="result"><video src="{base}{v.media}" poster="{base}{v.thumb}" controls></video>'
                   f'<a href="{v.page}">{html.escape(v.title)}</a></div>\n' for v in spec.listing(q))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f'<body><h1>{html.escape(title)}</h1>\n{tags}</body></html>')


def _feed_xml(spec, base, q) -> str:
    items, vids = [], spec.listing(q, 'feed')
    for v in vids:
        guid = vids[0].name if v.kind == 'dup' else v.name    # a duplicate id: another entry's guid, its own URL
        items.append(f'<item><title>{html.escape(v.title)}</title><link>{base}{v.page}</link>'
                     f'<guid isPermaLink="false">{html.escape(guid)}</guid>'
                     f'<itunes:duration>{int(v.listed_duration)}</itunes:duration>'
                     f'<itunes:image href="{base}{v.thumb}"/></item>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>'
            f'<title>{html.escape(spec.page_titles.get(q, q))}</title><link>{base}/</link>'
            f'<description>feed</description>{"".join(items)}</channel></rss>')


def _watch_html(v, base) -> str:
    t = html.escape(v.title)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{t}</title>'
            f'<meta property="og:title" content="{t}"/><meta property="og:type" content="video.other"/>'
            f'<meta property="og:video" content="{base}{v.media}"/><meta property="og:video:type" content="video/mp4"/>'
            f'<meta property="og:image" content="{base}{v.thumb}"/></head><body><h1>{t}</h1></body></html>')


class Site:
    "A running loopback site: `url`, `hits` (Counter per request path), `clients`, `log`, and the download `gate`."
    def __init__(self, spec: SiteSpec, slow_seconds: float = 4.0, gate_seconds: float = 60.0):
        self.spec, self.slow_seconds, self.gate_seconds = spec, slow_seconds, gate_seconds
        self.hits, self.clients, self.log = Counter(), set(), []
        self.sent = Counter()                   # media bytes written per path
        self.gate = threading.Event()           # a `gated` video's second half waits for this
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.media = {v.media: v for v in spec.videos}
        self.data = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def log_message(self, *a): pass
            def do_GET(self): site._handle(self, body=True)
            def do_HEAD(self): site._handle(self, body=False)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            def handle_error(self, request, client_address): pass   # clients that hang up are normal here

        self.server = Server(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f'http://127.0.0.1:{self.port}'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def template(self, kind='search') -> str:
        "A crawl source: 'search' (HTML page of <video> tags) or 'feed' (RSS of single-video pages), with {query}."
        return f'{self.url}/{kind}?q={{query}}'

    def media_hits(self) -> Counter: return Counter({p: n for p, n in self.hits.items() if p.startswith('/media/')})
    def thumb_hits(self) -> Counter: return Counter({p: n for p, n in self.hits.items() if p.startswith('/thumbs/')})
    def search_hits(self) -> Counter:
        return Counter({p: n for p, n in self.hits.items() if p.startswith(('/search', '/feed'))})

    def check_loopback(self):
        "Raise unless every request this site saw came from 127.0.0.1."
        bad = self.clients - {'127.0.0.1'}
        if bad: raise AssertionError(f'requests from non-loopback addresses: {sorted(bad)}')

    def reset(self):
        with self.lock: self.hits.clear(); self.log.clear(); self.sent.clear()

    def _bytes(self, v: Video) -> bytes:
        if v.name not in self.data:
            self.data[v.name] = (Path(self.spec.folder) / 'media' / f'{v.name}.mp4').read_bytes()
        return self.data[v.name]

    def _handle(self, h, body):
        u = urllib.parse.urlsplit(h.path)
        path, q = u.path, urllib.parse.parse_qs(u.query).get('q', [''])[0]
        with self.lock:
            self.hits[path if not u.query or path.startswith('/media/') else h.path] += 1
            self.clients.add(h.client_address[0])
            self.log.append((time.time(), h.command, h.path, h.headers.get('Range'), h.client_address[0]))
        base, spec, html_type = self.url, self.spec, 'text/html; charset=utf-8'
        try:
            if path == '/search': return self._send(h, 200, html_type, _search_html(spec, base, q).encode(), body)
            if path == '/feed': return self._send(h, 200, 'application/rss+xml', _feed_xml(spec, base, q).encode(),
                                                  body)
            if path.startswith('/watch/'):
                v = next((v for v in spec.videos if v.page == path), None)
                if v: return self._send(h, 200, html_type, _watch_html(v, base).encode(), body)
            if path.startswith('/thumbs/'):
                f = Path(spec.folder) / 'thumbs' / Path(path).name
                if f.is_file(): return self._send(h, 200, 'image/jpeg', f.read_bytes(), body)
            if path in self.media: return self._media(h, self.media[path], body)
            return self._send(h, 404, 'text/plain', b'not found\n', body)
        except (BrokenPipeError, ConnectionResetError, socket.timeout): pass

    def _send(self, h, code, ctype, data, body=True, headers=()):
        h.send_response(code)
        h.send_header('Content-Type', ctype)
        h.send_header('Content-Length', str(len(data)))
        for k, val in headers: h.send_header(k, val)
        h.end_headers()
        if body: h.wfile.write(data)

    def _media(self, h, v, body):
        k = v.kind
        if k == 'missing': return self._send(h, 404, 'text/plain', b'no such video\n', body)
        if k == 'text': return self._send(h, 200, 'video/mp4', b'this is not a video, only text\n' * 40, body)
        if k == 'slow':
            if self.stopping.wait(self.slow_seconds): return
        data = self._bytes(v)
        if k == 'truncated': data = data[:int(len(data) * 0.6)]
        start, rng = 0, h.headers.get('Range')
        if rng and rng.startswith('bytes=') and k not in ('cut',):
            a, _, b = rng[6:].partition('-')
            start = int(a or 0); end = int(b) if b else len(data) - 1
            if start >= len(data):
                return self._send(h, 416, 'text/plain', b'', body, [('Content-Range', f'bytes */{len(data)}')])
            part = data[start:end + 1]
            h.send_response(206)
            h.send_header('Content-Range', f'bytes {start}-{start + len(part) - 1}/{len(data)}')
        else:
            part = data
            h.send_response(200)
        h.send_header('Content-Type', 'video/mp4')
        h.send_header('Accept-Ranges', 'bytes')
        h.send_header('Content-Length', str(len(part)))
        h.end_headers()
        if not body: return
        if k == 'cut':
            self._write(h, v, part[:len(part) // 2]); h.close_connection = True
            h.wfile.flush(); h.connection.shutdown(socket.SHUT_RDWR); return
        if k == 'gated' and start < len(data) // 2:
            half = len(data) // 2 - start
            self._write(h, v, part[:half]); h.wfile.flush()
            if not self.gate.wait(self.gate_seconds) or self.stopping.is_set(): return
            return self._write(h, v, part[half:])
        self._write(h, v, part)

    def _write(self, h, v, data):
        step = 8192
        for i in range(0, len(data), step):
            h.wfile.write(data[i:i + step])
            with self.lock: self.sent[v.media] += len(data[i:i + step])

    def start(self) -> 'Site':
        self.thread.start(); return self

    def close(self):
        self.stopping.set(); self.gate.set()
        self.server.shutdown(); self.server.server_close()


@contextmanager
def serve_site(spec, **kw):
    "Serve `spec` (a SiteSpec, or the path of its folder / site.json) on 127.0.0.1:<free port> for the block."
    if not isinstance(spec, SiteSpec):
        p = Path(spec)
        spec = SiteSpec.load(p / 'site.json' if p.is_dir() else p)
    site = Site(spec, **kw).start()
    try: yield site
    finally: site.close()


# ---------------------------------------------------------------------------------------------------------------------
# A guard: no connection may leave the loopback address.

def _is_loopback(addr) -> bool:
    host = addr[0] if isinstance(addr, tuple) else addr
    return isinstance(host, str) and (host.startswith('127.') or host in ('::1', 'localhost'))


@contextmanager
def loopback_only():
    "Within the block every socket connect to a non-loopback address fails (OSError); yields the list of attempts."
    blocked = []
    orig, orig_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, addr):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(addr):
            blocked.append(addr); raise OSError(f'loopback_only: connection to {addr} refused by the test guard')
        return orig(self, addr)

    def connect_ex(self, addr):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(addr):
            blocked.append(addr); return 111
        return orig_ex(self, addr)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    try: yield blocked
    finally: socket.socket.connect, socket.socket.connect_ex = orig, orig_ex


def closed_port() -> int:
    "A loopback TCP port nothing listens on (bound, then released)."
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    return port
