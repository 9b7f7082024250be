"""The crawl (issue 11, §4) against a loopback site (tests/crawlsite.py): the real yt-dlp, an `http.server` on
127.0.0.1, mp4s with known key-frames, stamped pictures scored exactly by a fake `score` (CodeScorer), and broken
entries. The first tests check the site itself with yt-dlp; the rest run `wsvseg.crawl` (skipped while it is absent).
No test needs the internet; every request the site sees must come from 127.0.0.1."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yt_dlp

from crawlsite import BAD_TITLE, build_site, serve_site, read_code, stamp, loopback_only, closed_port
from wsvseg.data import DataError, keyframe_times, VideoReader, load_image, list_videos

HERE = Path(__file__).parent
ROOT = HERE.parent
QUIET = dict(quiet=True, no_warnings=True, noprogress=True)


@pytest.fixture(scope='module')
def spec(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp('site'))


@pytest.fixture(scope='module')
def site(spec):
    with serve_site(spec, slow_seconds=3.0) as s:
        yield s
    s.check_loopback()


def _flat(url):
    with yt_dlp.YoutubeDL(dict(QUIET, extract_flat=True)) as y:
        return y.sanitize_info(y.extract_info(url, download=False))


def _frames(path):
    return np.stack([f for _, f in VideoReader(path)])


# ---------------------------------------------------------------------------------------------------------------------
# The site, checked with yt-dlp directly.

def test_stamps_survive_h264_and_jpeg(spec):
    "Every frame of a served mp4 and every thumbnail reads back as the number stamped into it; the scorer looks it up."
    sc = spec.scorer()
    for v in spec.videos[:8] + [spec.video('v019')]:
        if v.kind == 'truncated': continue
        assert [read_code(f) for f in _frames(Path(spec.folder, 'media', f'{v.name}.mp4'))] == v.frame_codes
        thumb = load_image(Path(spec.folder, 'thumbs', f'{v.name}.jpg'))
        assert read_code(thumb) == v.thumb_code
        np.testing.assert_allclose(sc(thumb[None])[0], v.thumb_probs, atol=1e-6)
    blank = np.zeros((48, 64, 3), np.uint8)
    assert read_code(blank) is None and np.allclose(sc(blank[None]), 1 / len(spec.classes))
    assert read_code(stamp(blank, 4095)) == 4095
    assert sc.unknown == 1


def test_videos_have_known_keyframes(spec):
    v = spec.video('v000')
    assert keyframe_times(Path(spec.folder, 'media', 'v000.mp4')).tolist() == pytest.approx(v.keyframes)
    assert v.keyframes == pytest.approx([0, 0.6, 1.2, 1.8, 2.4])


def test_search_page_is_a_playlist_of_media_urls_and_posters(spec, site):
    "yt-dlp's generic extractor lists the <video src poster> tags: ids from page name and position, URL tells apart."
    for q in spec.classes:
        info = _flat(site.template('search').format(query=q))
        want = spec.listing(q)
        assert info['_type'] == 'playlist' and len(info['entries']) == len(want)
        assert [e['url'] for e in info['entries']] == [site.url + v.media for v in want]
        assert [e['thumbnail'] for e in info['entries']] == [site.url + v.thumb for v in want]
        assert [e['id'] for e in info['entries']] == [f'search?q={q}-{i + 1}' for i in range(len(want))]
        assert all(e.get('duration') is None for e in info['entries'])
    assert BAD_TITLE in _flat(site.template('search').format(query=spec.classes[0]))['entries'][0]['title']


def test_feed_lists_single_video_pages_with_titles_and_durations(spec, site):
    q = spec.video('v024').query                     # the page with the bad title
    info = _flat(site.template('feed').format(query=q))
    want = spec.listing(q, 'feed')
    assert [e['url'].split('#')[0] for e in info['entries']] == [site.url + v.page for v in want]
    assert [e['title'] for e in info['entries']] == [v.title for v in want]
    assert [e['duration'] for e in info['entries']] == [int(v.listed_duration) for v in want]
    assert BAD_TITLE in [e['title'] for e in info['entries']]
    page = _flat(site.url + spec.video('v024').page)  # og:video / og:image page
    assert page['url'] == site.url + spec.video('v024').media and page['thumbnail'] == site.url + '/thumbs/v024.jpg'
    assert page['title'] == BAD_TITLE


def _download(url, out, name):
    o = dict(QUIET, socket_timeout=1, retries=1, format='best', outtmpl=f'{out}/{name}.%(ext)s')
    with yt_dlp.YoutubeDL(o) as y: return y.extract_info(url, download=True)


def test_broken_entries_as_yt_dlp_sees_them(spec, site, tmp_path):
    "404, time-out and a cut connection fail in yt-dlp; a truncated mp4 and text as video/mp4 'download' but are bad."
    errs = {'missing': '404', 'slow': 'timed out', 'cut': 'more expected'}
    for v in spec.videos:
        if v.kind in errs:
            t = time.time()
            with pytest.raises(yt_dlp.utils.DownloadError, match=errs[v.kind]):
                _download(site.url + v.page, tmp_path, v.name)
            assert time.time() - t < 8
    for kind in ('truncated', 'text'):
        v = next(v for v in spec.videos if v.kind == kind)
        _download(site.url + v.page, tmp_path, v.name)
        with pytest.raises(DataError): keyframe_times(tmp_path / f'{v.name}.mp4')
    v = spec.video('v000')
    _download(site.url + v.page, tmp_path, v.name)
    assert (tmp_path / 'v000.mp4').read_bytes() == Path(spec.folder, 'media', 'v000.mp4').read_bytes()


def test_loopback_guard_and_client_addresses(site):
    with loopback_only() as blocked:
        with pytest.raises(OSError, match='loopback_only'):
            import socket; socket.create_connection(('192.0.2.1', 80), timeout=0.5)
        _flat(site.url + '/watch/v000')
    assert blocked == [('192.0.2.1', 80)]
    assert site.clients == {'127.0.0.1'} and site.hits['/watch/v000'] >= 1


# ---------------------------------------------------------------------------------------------------------------------
# The crawl.

THRESHOLD, MAX_KF, CLIP = 0.8, 2, 0.2
REACH = {'ok', 'dup', 'badtitle', 'long', 'gated'}     # kinds whose download succeeds and gives clips


def _cfg(source, **kw):
    from wsvseg.core import CrawlConfig
    base = dict(source=source, max_videos=50, min_duration=0.0, max_duration=600.0, thumbnail_threshold=THRESHOLD,
                sleep_interval=0.0, max_sleep_interval=0.0, sleep_requests=0.0, max_keyframes=MAX_KF,
                keyframe_threshold=0.8, clip_seconds=CLIP, socket_timeout=1.0)
    return CrawlConfig(**{**base, **kw})


def _crawl(spec, run, cfg, **kw):
    crawl = pytest.importorskip('wsvseg.crawl')
    from wsvseg.core import RunDir
    return crawl.crawl(spec.scorer(), spec.classes, RunDir(run), cfg, log=lambda *a, **k: None, **kw)


def _clips(run):
    return sorted(Path(run, 'crawl', 'clips').glob('*/*.mp4'))


def _clip_frames(spec, run):
    "{video name: [(class folder, clip file, [frame index, ...])]} read from the stamps of every clip's frames."
    out = {}
    for p in _clips(run):
        got = spec.locate(_frames(p))
        assert None not in got, f'{p}: a frame without a readable stamp'
        assert len({n for n, _ in got}) == 1, f'{p}: frames of several videos {got}'
        out.setdefault(got[0][0], []).append((p.parent.name, p, [t for _, t in got]))
    return out


@pytest.fixture(scope='module')
def crawled(spec, site, tmp_path_factory):
    "One crawl of the HTML search pages: (run folder, metrics, hits of that crawl, seconds)."
    pytest.importorskip('wsvseg.crawl')
    run = tmp_path_factory.mktemp('run')
    site.reset()
    t = time.time()
    with loopback_only() as blocked:
        m = _crawl(spec, run, _cfg(site.template('search')))
    assert not blocked and site.clients == {'127.0.0.1'}
    return run, m, site.hits.copy(), time.time() - t


def test_thumbnail_threshold_decides_downloads(spec, site, crawled):
    "A video is requested exactly when its thumbnail passes the threshold for its query; every thumbnail is fetched."
    run, m, hits, _ = crawled
    fetched = {p for p in hits if p.startswith('/media/')}
    assert fetched == {v.media for v in spec.passes(THRESHOLD)}
    assert {p for p in hits if p.startswith('/thumbs/')} == {v.thumb for v in spec.videos}
    assert all(hits[v.thumb] == 1 for v in spec.videos)
    assert any(spec.thumb_score(v) < THRESHOLD and v.cls == v.query for v in spec.videos)   # a below-threshold one


def test_keyframes_chosen_and_clip_lengths(spec, crawled):
    "Clips hold exactly the frames within ±clip_seconds of the top-`max_keyframes` key-frames above the threshold."
    run, m, _, _ = crawled
    got = _clip_frames(spec, run)
    for v in spec.passes(THRESHOLD):
        if v.kind not in REACH: assert v.name not in got, v.kind; continue
        want = spec.expected_keyframes(v, MAX_KF, 0.8)
        assert want, v.name
        clips = sorted(got[v.name], key=lambda c: c[2][0])
        assert len(clips) == len(want), (v.name, want, [c[2] for c in clips])
        for (cls, p, frames), t in zip(clips, want):
            k = round(t * v.fps); r = round(CLIP * v.fps)
            assert frames == list(range(max(0, k - r), min(v.n_frames, k + r + 1))), (v.name, t, frames)
            assert cls == v.query


def test_clip_layout_and_names(spec, crawled):
    "RUN/crawl/clips/<class>/<id>_<k>.mp4: names from sanitised ids (never titles), one set per listed video."
    run, m, _, _ = crawled
    clips = _clips(run)
    assert clips and {p.parent.name for p in clips} <= set(spec.classes)
    for p in clips:
        stem, _, k = p.stem.rpartition('_')
        assert stem and k.isdigit(), p.name
        assert not set(p.name) & set('\\;$`|&"\'*?<> ~()'), p.name
    assert not [p for p in Path(run, 'crawl', 'clips').rglob('*') if p.is_file() and p.suffix != '.mp4']
    dup = spec.video('v023')                        # listed twice on one page: fetched once, clipped once
    assert len(_clip_frames(spec, run)[dup.name]) == len(spec.expected_keyframes(dup, MAX_KF, 0.8))


def test_list_videos_reads_the_clips(spec, crawled):
    run, m, _, _ = crawled
    kind, src = list_videos(Path(run, 'crawl', 'clips'))
    assert kind == 'mp4' and len(src) == len(_clips(run))
    assert all(s.label == s.name.split('/')[0] and not s.problem for s in src)


def _state_rows(spec, run):
    "{video name: its result rows in crawl.sqlite}, matched by media URL (an entry's id comes from the listing)."
    from wsvseg.crawl import CrawlState
    st = CrawlState(Path(run, 'crawl', 'crawl.sqlite'))
    try:
        out = {}
        for r in st.results():
            path = r['url'].split('127.0.0.1:')[1].split('/', 1)[1].split('#')[0]
            out.setdefault(Path(path).stem, []).append(dict(r, keyframes=st.keyframes(r['class'], r['id'])))
        return out
    finally: st.close()


REASONS = {'missing': {'http 404'}, 'slow': {'timeout'}, 'truncated': {'not a video', 'truncated'},
           'text': {'not a video'}, 'cut': {'truncated', 'extractor error'}}


def test_failures_recorded_with_reasons(spec, crawled):
    "Each broken video is one failed result with its reason (404, time-out, not a video...); the crawl goes on."
    run, m, _, secs = crawled
    rows = _state_rows(spec, run)
    for v in spec.passes(THRESHOLD):
        (r,) = rows[v.name]
        if v.kind in REASONS:
            assert r['status'] == 'failed' and r['reason'] in REASONS[v.kind], (v.kind, r['reason'], r['error'])
            assert r['phase'] == 'download' and r['error']
            assert m['failed'][f"{r['class']}/{r['id']}"] == r['reason']
        else: assert r['status'] == 'done', (v.name, v.kind, r['status'], r['reason'], r['error'])
    assert len(m['failed']) == len(REASONS)
    assert secs < 40
    assert sum(m['classes'][c]['clips'] for c in spec.classes) == len(_clips(run))
    per = m['classes']
    assert sum(per[c]['downloaded'] for c in spec.classes) == len([v for v in spec.passes(THRESHOLD)
                                                                     if v.kind in REACH])
    assert sum(per[c]['results'] for c in spec.classes) == len(spec.videos)


def test_state_keeps_the_chosen_keyframes(spec, crawled):
    "crawl.sqlite holds every key-frame of a downloaded video with its score; exactly the expected ones are kept."
    run, m, _, _ = crawled
    rows = _state_rows(spec, run)
    for v in spec.passes(THRESHOLD):
        if v.kind not in REACH: continue
        (r,) = rows[v.name]
        kf = r['keyframes']
        assert [t for t, _, _ in kf] == pytest.approx(v.keyframes)
        assert [s for _, s, _ in kf] == pytest.approx([v.frame_scores[round(t * v.fps)] for t in v.keyframes],
                                                      abs=1e-5)
        assert [t for t, _, k in kf if k] == pytest.approx(spec.expected_keyframes(v, MAX_KF, 0.8))
        assert r['thumb_score'] == pytest.approx(spec.thumb_score(v), abs=1e-5)
    for v in spec.videos:
        if v.name in rows and spec.thumb_score(v) < THRESHOLD:
            assert all(r['status'] == 'rejected' and not r['keyframes'] for r in rows[v.name])


def test_rerun_fetches_nothing(spec, site, crawled):
    run, m, _, _ = crawled
    before = _clips(run)
    site.reset()
    _crawl(spec, run, _cfg(site.template('search')))
    assert not site.media_hits() and not site.thumb_hits(), site.hits
    assert _clips(run) == before


_CHILD = r'''
import sys; sys.path.insert(0, {tests!r})
from crawlsite import SiteSpec
from wsvseg.core import CrawlConfig, RunDir
from wsvseg.crawl import crawl
spec = SiteSpec.load({spec!r})
cfg = CrawlConfig(source={source!r}, max_videos=50, min_duration=0.0, sleep_interval=0.0, max_sleep_interval=0.0,
                  sleep_requests=0.0, max_keyframes=2, clip_seconds=0.2, socket_timeout=30.0)
crawl(spec.scorer(), spec.classes, RunDir({run!r}), cfg, log=lambda *a, **k: None)
'''


def test_resume_after_sigkill_fetches_nothing_twice(tmp_path):
    "Kill a crawl (subprocess) in the middle of a download; the rerun finishes it and refetches nothing it had."
    pytest.importorskip('wsvseg.crawl')
    layout = [('bird', 'bird', 'ok'), ('bird', 'bird', 'ok'), ('bird', 'bird', 'gated'), ('bird', 'bird', 'ok'),
              ('cat', 'cat', 'ok'), ('cat', 'cat', 'ok')]
    spec = build_site(tmp_path / 'site', classes=('bird', 'cat'), layout=layout)
    gated = next(v for v in spec.videos if v.kind == 'gated')
    with serve_site(spec) as site:
        site.gate.set()                                  # reference: the same crawl, never interrupted
        _crawl(spec, tmp_path / 'ref', _cfg(site.template('search'), socket_timeout=30.0))
        ref, ref_clips = site.hits.copy(), sorted(p.relative_to(tmp_path / 'ref') for p in _clips(tmp_path / 'ref'))
        assert ref[gated.media] >= 1
        site.reset(); site.gate.clear()
        run = tmp_path / 'run'
        code = _CHILD.format(tests=str(HERE), spec=str(Path(spec.folder, 'site.json')), run=str(run),
                             source=site.template('search'))
        child = subprocess.Popen([sys.executable, '-c', code], cwd=ROOT)
        try:
            t = time.time()
            while site.hits[gated.media] < ref[gated.media] or site.sent[gated.media] < gated.size // 2:
                assert child.poll() is None, 'the crawl ended before the gated download'
                assert time.time() - t < 30, 'the gated download never started'
                time.sleep(0.05)
            time.sleep(0.3)
        finally:
            child.send_signal(signal.SIGKILL); child.wait()
        site.gate.set()
        killed = site.hits.copy()
        assert killed[gated.media] >= 1
        _crawl(spec, run, _cfg(site.template('search'), socket_timeout=30.0))
        total = site.hits
        site.check_loopback()
    for p in set(ref) | set(total):
        if p == gated.media: assert total[p] <= 2 * ref[p], (p, ref[p], total[p])
        elif p.startswith(('/media/', '/thumbs/', '/search')):
            assert total[p] == ref[p], (p, ref[p], killed[p], total[p])
    assert sorted(p.relative_to(run) for p in _clips(run)) == ref_clips
    assert not [p for p in Path(run, 'crawl', 'clips').rglob('*') if p.is_file() and p.suffix != '.mp4']


def test_feed_source_drops_long_results_before_download(spec, site, tmp_path):
    "With the RSS feed (titles, durations, og:video pages), a too-long result is never requested; same id, two URLs."
    # v025 is listed in the feed as lasting 9999 s
    site.reset()
    _crawl(spec, tmp_path, _cfg(site.template('feed')))
    assert site.hits[spec.video('v025').media] == 0 and site.hits[spec.video('v025').page] == 0
    assert site.hits[spec.video('v024').media] >= 1          # the bad title's video is downloaded
    got = _clip_frames(spec, tmp_path)
    assert 'v024' in got and 'v023' in got                     # 'dup' shares its id with another entry
    first = spec.listing(spec.video('v023').query, 'feed')[0]
    if spec.thumb_score(first) >= THRESHOLD: assert first.name in got


def _tiny_checkpoint(path, classes):
    "An untrained small encoder whose classifier bias makes every class relevant in every frame (as test_label's)."
    import torch
    from dataclasses import replace
    from wsvseg.core import preset_config
    from wsvseg.encoder import build_encoder, save_checkpoint
    torch.manual_seed(0)
    cfg = replace(preset_config('world').encoder, num_classes=len(classes), width_div=16, new_conv_channels=32,
                  image_size=32, scales=(1.0,))
    enc = build_encoder(cfg)
    with torch.no_grad(): enc.fc.bias[:] = 8.0
    return save_checkpoint(path, enc, None, 0, enc.cfg, list(classes))


def test_merged_clips_and_the_labeller_reads_them(tmp_path):
    """Key-frames closer than 2 x clip_seconds give one clip covering the union of their windows; the labeller
    (wsvseg.label.label_videos on data.list_videos of the clips folder) labels every clip as it is."""
    pytest.importorskip('wsvseg.crawl')
    from wsvseg.core import LabelConfig, VideoSegConfig
    from wsvseg.label import label_videos
    spec = build_site(tmp_path / 'site', classes=('cat', 'dog'), layout=[('cat', 'cat', 'ok'), ('cat', 'cat', 'ok'),
                                                                           ('dog', 'dog', 'ok')])
    with serve_site(spec) as site:
        _crawl(spec, tmp_path / 'run', _cfg(site.template('search'), max_keyframes=15, clip_seconds=0.4))
    got = _clip_frames(spec, tmp_path / 'run')
    for v in spec.videos:
        want = set()
        for t in spec.expected_keyframes(v, 15, 0.8):
            k = round(t * v.fps); want |= set(range(max(0, k - 4), min(v.n_frames, k + 5)))
        runs, cur = [], []
        for f in sorted(want):
            if cur and f != cur[-1] + 1: runs.append(cur); cur = []
            cur.append(f)
        runs.append(cur)
        assert sorted(fr for _, _, fr in got[v.name]) == runs, (v.name, spec.expected_keyframes(v, 15, 0.8))
    ck = _tiny_checkpoint(tmp_path / 'enc.pt', spec.classes)
    kind, src = list_videos(tmp_path / 'run' / 'crawl' / 'clips')
    cfg = LabelConfig(videoseg=VideoSegConfig(n_superpixels=60))
    s = label_videos(src, ck, tmp_path / 'label', cfg, workers=1)
    assert kind == 'mp4' and len(s['per_video']) == len(_clips(tmp_path / 'run'))
    assert all(r['status'] == 'labelled' for r in s['per_video'].values()), s['per_video']
    assert s['frames_now'] == sum(len(fr) for clips in got.values() for _, _, fr in clips)


def test_shards_split_the_work(tmp_path):
    "Shards 0/2 and 1/2 into one run fetch disjoint videos and together write the clips of the unsharded crawl."
    pytest.importorskip('wsvseg.crawl')
    layout = [(c, c, 'ok') for c in ('cat', 'dog') for _ in range(3)]
    spec = build_site(tmp_path / 'site', classes=('cat', 'dog'), layout=layout, on_scores=(0.9,))
    with serve_site(spec) as site:
        _crawl(spec, tmp_path / 'all', _cfg(site.template('search')))
        fetched = []
        for i in range(2):
            site.reset()
            _crawl(spec, tmp_path / 'run', _cfg(site.template('search')), shard=f'{i}/2')
            fetched.append(set(site.media_hits()))
    assert not fetched[0] & fetched[1] and fetched[0] | fetched[1] == {v.media for v in spec.videos}
    names = lambda run: sorted(p.relative_to(run) for p in _clips(run))
    assert names(tmp_path / 'run') == names(tmp_path / 'all')


def test_search_without_network_fails_fast(monkeypatch):
    "ytsearch behind an unreachable proxy, and a URL template at a closed port: a clear error within seconds."
    crawl = pytest.importorskip('wsvseg.crawl')
    port = closed_port()
    cfg = _cfg(f'http://127.0.0.1:{port}/search?q={{query}}')
    with loopback_only() as blocked:
        t = time.time()
        with pytest.raises(Exception) as e: crawl.search('cat', cfg.source, 3, cfg)
        assert time.time() - t < 5 and isinstance(e.value, (DataError, OSError, RuntimeError)), repr(e.value)
        for k in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
            monkeypatch.setenv(k, f'http://127.0.0.1:{port}')
        t = time.time()
        with pytest.raises(Exception) as e2: crawl.search('cat', 'ytsearch', 3, _cfg('ytsearch'))
        assert time.time() - t < 5 and isinstance(e2.value, (DataError, OSError, RuntimeError)), repr(e2.value)
    assert not blocked
    for err in (e.value, e2.value):
        assert 'network' in str(err).lower() or 'connect' in str(err).lower(), str(err)
        assert 'Traceback' not in str(err)


def test_a_keyword_without_results_is_empty_not_fatal(spec, site, tmp_path):
    "A reachable search page that lists no video gives no results for that keyword, and the crawl goes on."
    crawl = pytest.importorskip('wsvseg.crawl')
    cfg = _cfg(site.template('search'))
    assert crawl.search('unicorn', site.template('search'), 5, cfg) == []
    m = crawl.crawl(spec.scorer(), spec.classes, tmp_path/'run', cfg, queries={spec.classes[0]: ['unicorn']},
                    log=lambda *a, **k: None)
    assert m['classes'][spec.classes[0]]['results'] == 0 and not m['failed']


def test_the_crawl_command(spec, site, tmp_path):
    "wsvseg-crawl CHECKPOINT: options from CrawlConfig, the summary table, bad entries listed (status 1), no network: 2."
    pytest.importorskip('wsvseg.crawl')
    ck = _tiny_checkpoint(tmp_path/'enc.pt', spec.classes)
    bin_ = Path(sys.executable).parent/'wsvseg-crawl'
    common = ['--sleep-interval', '0', '--max-sleep-interval', '0', '--sleep-requests', '0', '--min-duration', '0',
              '--socket-timeout', '2', '--thumbnail-threshold', '0', '--keyframe-threshold', '0', '--max-videos', '4']
    r = subprocess.run([str(bin_), str(ck), '--run', str(tmp_path/'r'), '--source', site.template('search'),
                        '--classes', spec.classes[0], *common], capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1) and 'Traceback' not in r.stderr, r.stdout + r.stderr
    assert '| class |' in r.stdout and f'| {spec.classes[0]} |' in r.stdout, r.stdout
    assert list((tmp_path/'r'/'crawl'/'clips'/spec.classes[0]).glob('*.mp4'))
    assert (tmp_path/'r'/'crawl'/'metrics.json').exists() and (tmp_path/'r'/'crawl'/'crawl.sqlite').exists()
    dead = f'http://127.0.0.1:{closed_port()}/search?q={{query}}'
    t = time.time()
    r = subprocess.run([str(bin_), str(ck), '--run', str(tmp_path/'r2'), '--source', dead, *common],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith('wsvseg-crawl: ') and 'cannot search' in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and time.time() - t < 60



def test_the_crawl_command_retries_failed_results(spec, site, tmp_path):
    "wsvseg-crawl leaves failed results alone on a rerun; --retry-failed fetches exactly those again, the rest not."
    pytest.importorskip('wsvseg.crawl')
    ck = _tiny_checkpoint(tmp_path/'enc.pt', spec.classes)
    bin_ = Path(sys.executable).parent/'wsvseg-crawl'
    args = [str(bin_), str(ck), '--run', str(tmp_path/'r'), '--source', site.template('search'), '--sleep-interval',
            '0', '--max-sleep-interval', '0', '--sleep-requests', '0', '--min-duration', '0', '--socket-timeout', '2',
            '--thumbnail-threshold', str(THRESHOLD), '--max-keyframes', str(MAX_KF), '--clip-seconds', str(CLIP)]
    crawl = lambda *extra: subprocess.run(args + list(extra), capture_output=True, text=True, timeout=300)
    r = crawl()
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stdout + r.stderr     # 1: some results failed
    rows = _state_rows(spec, tmp_path/'r')
    failed = {v.media for v in spec.videos for row in rows.get(v.name, []) if row['status'] == 'failed'}
    reasons = {k: row['reason'] for k, rs in rows.items() for row in rs if row['status'] == 'failed'}
    assert failed and {spec.video(k).kind for k in reasons} <= set(REASONS), reasons
    clips = _clips(tmp_path/'r')
    site.reset()
    r = crawl()                                                        # a plain rerun: nothing is fetched again
    assert r.returncode == 1 and not site.media_hits(), site.hits
    site.reset()
    r = crawl('--retry-failed')                                        # exactly the failed ones, from their step
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stdout + r.stderr
    assert set(site.media_hits()) == failed, (site.media_hits(), failed)
    again = _state_rows(spec, tmp_path/'r')                            # still broken: failed for the same reasons
    assert {k: row['reason'] for k, rs in again.items() for row in rs if row['status'] == 'failed'} == reasons
    assert _clips(tmp_path/'r') == clips

def test_one_config_runs_crawl_label_decoder_segment(spec, site, tmp_path):
    "wsvseg-run with videos = 'crawl': the world's images, web clips from the site, every stage after them."
    pytest.importorskip('wsvseg.crawl')
    cfg = tmp_path/'crawl.toml'
    cfg.write_text(f'''preset = "quick"
[inputs]
videos = "crawl"
[world]
n_train = 8
n_test = 8
n_videos = 4
[crawl]
classes = ["{spec.classes[0]}", "{spec.classes[1]}"]
source = "{site.template('search')}"
max_videos = 3
min_duration = 0.0
thumbnail_threshold = 0.0
keyframe_threshold = 0.0
sleep_interval = 0.0
max_sleep_interval = 0.0
sleep_requests = 0.0
socket_timeout = 2.0
[compute]
device = "cpu"
workers = 1
''')
    r = subprocess.run([str(Path(sys.executable).parent/'wsvseg-run'), str(cfg), '--run', str(tmp_path/'r')],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode in (0, 1) and 'Traceback' not in r.stderr, r.stdout[-3000:] + r.stderr
    for stage in ('world', 'encoder', 'crawl', 'videoseg', 'decoder', 'adapt', 'segment', 'ablation', 'report'):
        assert (tmp_path/'r'/stage/'done.json').exists(), (stage, r.stdout[-3000:] + r.stderr)
    clips = list((tmp_path/'r'/'crawl'/'clips').glob('*/*.mp4'))
    labelled = list((tmp_path/'r'/'videoseg'/'videos').rglob('*.json'))
    assert clips and len(labelled) == len(clips)
    report = (tmp_path/'r'/'report'/'report.md').read_text()
    assert '## The crawl (§4)' in report and '| total' in report, report[:3000]
