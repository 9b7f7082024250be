"""Labelling as Ray tasks (05a_label, `engine='ray'`): the masks and per-video records of the process pool, resumption,
a task that dies reported as lost, and a clear message when Ray (the optional extra `wsvseg[ray]`) is not installed.
Then the crawl as Ray tasks (08_crawl): the process engine's state, clips and metrics, resumption, a dead task."""
import importlib.util, json, sys
from pathlib import Path
import numpy as np
import pytest
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_label import FAST, tiny_checkpoint, frame_folder, squares  # noqa: E402
from wsvseg.data import list_videos, read_record  # noqa: E402
from wsvseg.label import label_videos  # noqa: E402

TIMED = ('timings', 'seconds')


@pytest.fixture(scope='module')
def ray_local():
    "A local Ray instance of 2 CPUs for the module's tests."
    ray = pytest.importorskip('ray', reason="Ray is not installed: pip install 'wsvseg[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, logging_level='WARNING')
    yield ray
    ray.shutdown()


@pytest.fixture
def collection(tmp_path):
    "(videos, checkpoint): one video per outcome: labelled (2), irrelevant (a class never found), error (unknown class)."
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'videos'
    for k in range(4): frame_folder(d, f'v{k}', squares(10, seed=k))
    (d/'labels.json').write_text(json.dumps({'v0': 'dog', 'v1': 'cat', 'v2': 'car', 'v3': 'zebra'}))
    return list_videos(d)[1], ck


def _masks(run) -> dict:
    return {p.relative_to(run): p.read_bytes() for p in (Path(run)/'videoseg'/'masks').rglob('*.png')}


def _record(run, name) -> dict:
    return {k: v for k, v in read_record(Path(run)/'videoseg', name).items() if k not in TIMED}


def test_ray_labels_like_the_process_pool_and_resumes(tmp_path, ray_local, collection):
    srcs, ck = collection
    pool = label_videos(srcs, ck, tmp_path/'pool', FAST, workers=2)
    ray_ = label_videos(srcs, ck, tmp_path/'ray', FAST, engine='ray')
    assert pool['counts'] == ray_['counts'] == dict(labelled=2, irrelevant=1, error=1, lost=0)
    assert (pool['engine'], ray_['engine']) == ('process', 'ray') and pool['problems'] == ray_['problems']
    assert {k: {**v, 'seconds': 0} for k, v in pool['per_video'].items()} == \
           {k: {**v, 'seconds': 0} for k, v in ray_['per_video'].items()}
    masks = _masks(tmp_path/'ray')
    assert len(masks) == 20 and masks == _masks(tmp_path/'pool')
    for v in srcs: assert _record(tmp_path/'ray', v.name) == _record(tmp_path/'pool', v.name), v.name
    for v in srcs[:2]:
        a, b = (np.load(tmp_path/r/'videoseg'/'attention'/f'{v.name}.npz') for r in ('ray', 'pool'))
        assert all(np.array_equal(a[k], b[k]) for k in ('attention', 'frames', 'scale')), v.name
    again = label_videos(srcs, ck, tmp_path/'ray', FAST, engine='ray')            # everything done: nothing new
    assert (again['labelled_now'], again['skipped']) == (0, 4) and _masks(tmp_path/'ray') == masks
    redo = label_videos(srcs, ck, tmp_path/'ray', FAST, engine='ray', redo_errors=True)
    assert (redo['labelled_now'], redo['skipped']) == (1, 3) and redo['counts']['error'] == 1


def test_a_ray_task_that_fails_costs_only_its_videos_as_lost(tmp_path, ray_local, collection):
    "An encoder a worker cannot load: every video is reported lost (not done), none has a record; a rerun retries."
    srcs, _ = collection
    bad = tmp_path/'broken.pt'; bad.write_bytes(b'not a checkpoint')
    s = label_videos(srcs[:2], bad, tmp_path/'run', FAST, engine='ray')
    assert s['counts']['lost'] == 2 and all('rerun to retry' in m for m in s['problems'].values()), s['problems']
    assert all(read_record(tmp_path/'run'/'videoseg', v.name) is None for v in srcs[:2])


def test_missing_ray_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'ray', None)                                   # `import ray` fails
    with pytest.raises(ValueError, match=r"pip install 'wsvseg\[ray\]'"):
        label_videos([], tmp_path/'none.pt', tmp_path/'run', engine='ray')
    with pytest.raises(ValueError, match="engine must be 'process' or 'ray'"):
        label_videos([], tmp_path/'none.pt', tmp_path/'run', engine='dask')


def test_engine_and_address_are_options_of_both_commands():
    from wsvseg.cli import parser_for
    for cmd in ('label-videos', 'crawl'):
        p, dests = parser_for(cmd, '')
        a = p.parse_args(['--engine', 'ray', '--address', 'auto'])
        assert (dests['engine'], dests['address']) == (('compute', 'engine'), ('compute', 'address'))
        assert (a.engine, a.address) == ('ray', 'auto')


# ---------------------------------------------------------------------------------------------------------------------
# The crawl as Ray tasks (08_crawl, `crawl(..., engine='ray')`): a small loopback site (tests/crawlsite.py) crawled by
# the process engine and by Ray tasks gives the same state, clips and metrics; a rerun does nothing; a task that dies
# is a failure of its video, which `retry_failed` takes up again.

CRAWL_LAYOUT = [('cat', 'cat', 'ok'), ('cat', 'cat', 'ok'), ('cat', 'cat', 'ok'), ('cat', 'dog', 'ok'),
                ('cat', 'cat', 'missing'), ('dog', 'dog', 'ok'), ('dog', 'dog', 'text')]
QUIET = dict(log=lambda *a, **k: None)


@pytest.fixture(scope='module')
def crawl_site(tmp_path_factory):
    "(spec, site, factory): 7 results of 2 classes (2 cat clips, 1 rejected on its score, 1 off-class, a 404, a text "
    "file, 1 dog clip), served on 127.0.0.1; `factory` rebuilds the site's exact scorer in a Ray worker."
    pytest.importorskip('ray', reason="Ray is not installed: pip install 'wsvseg[ray]'")
    import functools, ray.cloudpickle
    import crawlsite
    ray.cloudpickle.register_pickle_by_value(crawlsite)          # Ray workers cannot import tests/crawlsite.py
    spec = crawlsite.build_site(tmp_path_factory.mktemp('site'), classes=('cat', 'dog'), layout=CRAWL_LAYOUT,
                                on_scores=(0.97, 0.9, 0.6))
    with crawlsite.serve_site(spec) as site:
        yield spec, site, functools.partial(crawlsite.CodeScorer.load, Path(spec.folder, 'site.json'))
    ray.cloudpickle.unregister_pickle_by_value(crawlsite)


@pytest.fixture(scope='module')
def pool_crawl(crawl_site, tmp_path_factory):
    "(run, metrics, requests per path): the site crawled by the process engine."
    from test_crawl import _cfg
    from wsvseg.crawl import crawl
    spec, site, _ = crawl_site
    run = tmp_path_factory.mktemp('pool')
    site.reset()
    m = crawl(spec.scorer(), spec.classes, run, _cfg(site.template('search')), **QUIET)
    return run, m, site.hits.copy()


def _crawl_state(run, timed=False) -> dict:
    "Results (without time stamps unless `timed`), key-frames and clips of a run's crawl.sqlite, its folder as RUN."
    from wsvseg.crawl import CrawlState
    st = CrawlState(Path(run, 'crawl', 'crawl.sqlite'))
    fix = lambda v: v.replace(str(run), 'RUN') if isinstance(v, str) else v
    try:
        rows = [{k: fix(v) for k, v in r.items() if timed or k not in ('created', 'updated')} for r in st.results()]
        return dict(results=rows, keyframes={r['id']: st.keyframes(r['class'], r['id']) for r in rows},
                    clips=[{k: fix(v) for k, v in c.items()} for c in st.clips()])
    finally: st.close()


def _clip_frames(spec, run) -> dict:
    "{clip: [(video, frame index)]}: which of the site's frames each clip holds, read from their stamps (exact pixels "
    "are not compared: decoding and re-encoding a clip is not always bit-exact from one run to the next)."
    from test_crawl import _frames
    return {p.relative_to(run): spec.locate(_frames(p)) for p in sorted(Path(run, 'crawl', 'clips').rglob('*.mp4'))}


def _untimed(m) -> dict: return {k: v for k, v in m.items() if k != 'phases'}


def test_ray_crawls_like_the_process_engine_and_resumes(tmp_path, ray_local, crawl_site, pool_crawl):
    from test_crawl import _cfg
    from wsvseg.crawl import crawl
    spec, site, factory = crawl_site
    pool, m_pool, hits_pool = pool_crawl
    cfg = _cfg(site.template('search'))
    site.reset()
    m = crawl(None, spec.classes, tmp_path/'ray', cfg, engine='ray', checkpoint=factory, **QUIET)
    assert site.hits == hits_pool                                   # the same requests, each as often
    assert _untimed(m) == _untimed(m_pool) and set(m['phases']) == set(m_pool['phases'])
    assert m['classes']['cat']['clips'] == 4 and m['classes']['dog']['clips'] == 2
    assert sorted(m['failed'].values()) == ['http 404', 'not a video']
    assert _crawl_state(tmp_path/'ray') == _crawl_state(pool)
    clips = _clip_frames(spec, tmp_path/'ray')
    assert clips == _clip_frames(spec, pool) and len(clips) == 6
    assert all(len(f) == 5 and None not in f for f in clips.values())
    before = _crawl_state(tmp_path/'ray', timed=True)
    site.reset()
    again = crawl(None, spec.classes, tmp_path/'ray', cfg, engine='ray', checkpoint=factory, **QUIET)
    assert not site.media_hits() and not site.thumb_hits() and not site.search_hits(), site.hits
    assert _crawl_state(tmp_path/'ray', timed=True) == before      # not one write
    assert _untimed(again) == _untimed(m) and not any(again['phases'].values())


def test_a_ray_task_that_dies_is_a_failure_of_its_video(tmp_path, ray_local, crawl_site, pool_crawl):
    "A worker that dies on one video's thumbnail: that video is failed ('task failed'), the others are as the process "
    "engine makes them; `retry_failed` with a working scorer then gives the process engine's crawl."
    import os
    from crawlsite import CodeScorer, read_code
    from test_crawl import _cfg
    from wsvseg.crawl import crawl
    spec, site, factory = crawl_site
    pool, m_pool, _ = pool_crawl
    doomed, site_json = spec.videos[1], str(Path(spec.folder, 'site.json'))

    def dying_factory():
        score = CodeScorer.load(site_json)
        def dying(frames):
            if any(read_code(f) == doomed.thumb_code for f in frames): os._exit(3)
            return score(frames)
        return dying

    cfg = _cfg(site.template('search'))
    m = crawl(None, spec.classes, tmp_path/'ray', cfg, engine='ray', checkpoint=dying_factory, **QUIET)
    got, want = _crawl_state(tmp_path/'ray'), _crawl_state(pool)
    (bad,) = [r for r in got['results'] if r['url'].endswith(doomed.media)]
    assert (bad['status'], bad['phase'], bad['reason']) == ('failed', 'thumbnail', 'task failed'), bad
    assert bad['error'].startswith('Ray task failed (') and 'retry_failed' in bad['error'], bad['error']
    assert m['failed'][f"cat/{bad['id']}"] == 'task failed' and len(m['failed']) == 3
    assert [r for r in got['results'] if r['id'] != bad['id']] == [r for r in want['results'] if r['id'] != bad['id']]
    m2 = crawl(None, spec.classes, tmp_path/'ray', cfg, engine='ray', checkpoint=factory, retry_failed=True, **QUIET)
    assert _untimed(m2) == _untimed(m_pool) and _crawl_state(tmp_path/'ray') == want


def test_ray_crawl_workers_load_the_encoder_checkpoint(tmp_path, ray_local, crawl_site):
    "A local folder scored by a checkpoint: each Ray worker loads it, as the process engine's scorer; one that cannot "
    "be loaded fails every task, each result recorded as failed."
    import torch
    from test_crawl import _cfg
    from wsvseg.crawl import crawl
    from wsvseg.pipeline import encoder_scorer
    spec, _, _ = crawl_site
    ck = tiny_checkpoint(tmp_path/'enc.pt')                        # cat, dog: always relevant; car: never
    cfg, queries = _cfg(str(Path(spec.folder, 'media')), max_videos=2), {'cat': ['cat'], 'car': ['car']}
    score, classes = encoder_scorer(ck)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                        # as a Ray task's: the same floats
    try: m_pool = crawl(score, classes, tmp_path/'pool', cfg, queries, **QUIET)
    finally: torch.set_num_threads(threads)
    m = crawl(None, classes, tmp_path/'ray', cfg, queries, engine='ray', checkpoint=ck, **QUIET)
    assert _untimed(m) == _untimed(m_pool)
    assert (m['classes']['cat']['done'], m['classes']['car']['kept'], m['classes']['car']['results']) == (2, 0, 2)
    assert _crawl_state(tmp_path/'ray') == _crawl_state(tmp_path/'pool')
    bad = tmp_path/'broken.pt'; bad.write_bytes(b'not a checkpoint')
    m = crawl(None, classes, tmp_path/'broken', cfg, queries, engine='ray', checkpoint=bad, **QUIET)
    assert list(m['failed'].values()) == ['task failed'] * 4
    assert all(r['phase'] == 'thumbnail' and 'Ray task failed' in r['error']
               for r in _crawl_state(tmp_path/'broken')['results'])


def test_crawl_engine_checks(tmp_path, monkeypatch):
    "An unknown engine, Ray without a checkpoint or with a missing one, and Ray not installed: refused before any work."
    from wsvseg.crawl import crawl
    from wsvseg.data import DataError
    args = (None, ['cat', 'dog'], tmp_path/'run')
    with pytest.raises(ValueError, match="engine must be 'process' or 'ray'"): crawl(*args, engine='dask')
    if importlib.util.find_spec('ray') is not None:
        with pytest.raises(ValueError, match="engine 'ray' needs `checkpoint`"): crawl(*args, engine='ray')
        with pytest.raises(DataError, match='encoder checkpoint not found'):
            crawl(*args, engine='ray', checkpoint=tmp_path/'none.pt')
    monkeypatch.setitem(sys.modules, 'ray', None)                                   # `import ray` fails
    with pytest.raises(ValueError, match=r"pip install 'wsvseg\[ray\]'"):
        crawl(*args, engine='ray', checkpoint=tmp_path/'none.pt')
    assert not (tmp_path/'run').exists()
