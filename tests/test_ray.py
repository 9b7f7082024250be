"""Labelling as Ray tasks (05a_label, `engine='ray'`): the masks and per-video records of the process pool, resumption,
a task that dies reported as lost, and a clear message when Ray (the optional extra `wsvseg[ray]`) is not installed."""
import json, sys
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
