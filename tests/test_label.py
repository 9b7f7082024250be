"""Labelling a video collection (05a_label): shards, resuming after a kill, the bad-input catalogue per video,
folder-kind detection (01_data's readers, as the labeller uses them), atomic outputs; frames streamed with the results
of the whole video in memory, long intervals cut in windows, and the encoder/graph-cut split."""
import json, os, signal, subprocess, sys, textwrap, time, zipfile
from dataclasses import replace
from pathlib import Path
import numpy as np
import pytest
import torch
from wsvseg.core import FilterConfig, LabelConfig, VideoSegConfig, preset_config
from wsvseg.core import atomic_write_json
from wsvseg.data import (DataError, VideoSource, detect_kind, list_videos, load_label_png, read_record, save_image,
                         save_label_png, video_paths)
from wsvseg.encoder import build_encoder, save_checkpoint, load_encoder, class_scores, multiscale_attention
from wsvseg.label import (shard_videos, parse_shard, label_videos, collect_labels, evaluate_labels, read_frames,
                          quantise_attention, dequantise_attention, relevant_windows)
from wsvseg.videoseg import segment_video

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from layouts import make_video, moving_square  # noqa: E402

FAST = LabelConfig(videoseg=VideoSegConfig(n_superpixels=60))


def tiny_checkpoint(path, classes=('cat', 'dog', 'car'), never=('car',)):
    "An untrained small encoder whose classifier bias makes every class always relevant, except `never` (never)."
    torch.manual_seed(0)
    cfg = replace(preset_config('world').encoder, num_classes=len(classes), width_div=16, new_conv_channels=32,
                  image_size=32, scales=(1.0,))
    enc = build_encoder(cfg)
    with torch.no_grad(): enc.fc.bias[:] = torch.tensor([-8.0 if c in never else 8.0 for c in classes])
    return save_checkpoint(path, enc, None, 0, enc.cfg, classes)


def label_folder(folder, checkpoint, run, max_side=None, **kw):
    "What the labelling command does: every video of a folder, the default configuration (`max_side` changed)."
    cfg = LabelConfig()
    if max_side is not None: cfg = replace(cfg, videoseg=replace(cfg.videoseg, max_side=max_side))
    return label_videos(list_videos(folder)[1], checkpoint, run, cfg, **kw)


def frame_folder(root, name, frames):
    for t, f in enumerate(frames): save_image(root/'JPEGImages'/'480p'/name/f'{t:05d}.jpg', f)


def squares(n, h=48, w=64, seed=0):
    return [f[:h, :w].copy() for f in moving_square(n, max(h, 120), max(w, 160), seed)]


def no_temp_files(root):
    return [p for p in Path(root).rglob('*') if '.tmp' in p.name]


# ---------------------------------------------------------------- shards
def test_shards_cover_every_video_once():
    names = [f'seq-{k:03d}' for k in range(37)]
    for n in (1, 2, 3, 5, 8, 37, 50):
        parts = [shard_videos(list(reversed(names)), f'{i}/{n}') for i in range(n)]
        assert sorted(sum(parts, [])) == names
        assert all(len(p) in (len(names) // n, len(names) // n + 1) for p in parts)   # balanced
    srcs = [VideoSource(n, 'cat', 'frames', n) for n in names]
    assert [s.name for s in shard_videos(srcs, (1, 4))] == names[1::4]
    for bad in ('3/3', '-1/2', 'a/b', '1/0', '2'):
        with pytest.raises(ValueError): parse_shard(bad)


# ---------------------------------------------------------------- folder kinds
def test_world_folder_is_davis(tmp_path):
    from wsvseg.world import WorldConfig, write_world
    write_world(WorldConfig(n_train=2, n_test=2, n_videos=2, frames=20), tmp_path/'w', mp4=False)
    assert detect_kind(tmp_path/'w') == 'davis'
    kind, v = list_videos(tmp_path/'w')
    assert [s.name for s in v] == ['aeroplane-000', 'bird-001'] and len(v[0].mask_paths) == 20


# ---------------------------------------------------------------- bad input, per video
def test_bad_input_catalogue(tmp_path):
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'videos'
    frame_folder(d, 'good', squares(8))
    frame_folder(d, 'single', squares(1))
    frame_folder(d, 'black', [np.zeros((48, 64, 3), np.uint8)] * 8)
    frame_folder(d, 'static', [squares(1)[0]] * 8)
    frame_folder(d, 'never', squares(8))
    frame_folder(d, 'nolabel', squares(8))
    frame_folder(d, 'unknown', squares(8))
    frame_folder(d, 'sizes', squares(4) + squares(4, 40, 64))
    frame_folder(d, 'corrupt', squares(8))
    (d/'JPEGImages'/'480p'/'corrupt'/'00003.jpg').write_bytes(b'not a jpeg at all')
    (d/'JPEGImages'/'480p'/'empty').mkdir(parents=True)
    labels = {q: 'cat' for q in ('good', 'single', 'black', 'static', 'sizes', 'corrupt', 'empty')}
    (d/'labels.json').write_text(json.dumps({**labels, 'never': 'car', 'unknown': 'zebra'}))
    s = label_folder(d, ck, tmp_path/'run', max_side=64, workers=1)
    st = {k: (v['status'], v['message']) for k, v in s['per_video'].items()}
    assert st['good'][0] == 'labelled'
    assert st['black'][0] == 'labelled' and st['static'][0] == 'labelled'
    out = tmp_path/'run'/'videoseg'
    assert any('no usable motion' in n for n in read_record(out, 'static')['notes'])
    assert any('no usable motion' in n for n in read_record(out, 'black')['notes'])
    assert st['single'] == ('irrelevant',
                            'no relevant interval: no run of more than 5 relevant frames (longest 1 of 1 frames)')
    assert st['never'][0] == 'irrelevant' and 'no frame scores above 0.8' in st['never'][1]
    assert st['nolabel'][0] == 'error' and 'missing labels' in st['nolabel'][1]
    assert st['unknown'][0] == 'error' and "unknown class 'zebra'" in st['unknown'][1]
    assert 'cat, dog, car' in st['unknown'][1]
    assert st['sizes'][0] == 'error' and 'differ in size' in st['sizes'][1]
    assert st['corrupt'][0] == 'error' and '00003.jpg' in st['corrupt'][1]
    assert st['empty'][0] == 'error' and 'no frames' in st['empty'][1]
    assert s['counts'] == dict(labelled=3, irrelevant=2, error=5, lost=0)
    assert set(s['problems']) == {'nolabel', 'unknown', 'sizes', 'corrupt', 'empty'}
    assert collect_labels(tmp_path/'run')['counts'] == dict(labelled=3, irrelevant=2, error=5)
    assert len(list((out/'masks'/'good').glob('*.png'))) == 8 and not (out/'masks'/'single').exists()
    assert no_temp_files(tmp_path/'run') == []
    # errors are kept as done; redo_errors retries them (still errors)
    s2 = label_folder(d, ck, tmp_path/'run', max_side=64, workers=1)
    assert s2['labelled_now'] == 0 and s2['skipped'] == 10
    s3 = label_folder(d, ck, tmp_path/'run', max_side=64, workers=1, redo_errors=True)
    assert s3['labelled_now'] == 5 and s3['counts']['error'] == 5


def test_bad_video_files(tmp_path):
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'mp4'
    make_video(d/'cat'/'ok.mp4', n=10, h=48, w=64)
    (d/'cat'/'text.mp4').write_text('this is not a video\n' * 50)
    full = (d/'cat'/'ok.mp4').read_bytes()
    (d/'dog').mkdir(); (d/'dog'/'cut.mp4').write_bytes(full[:len(full) // 2])
    (d/'dog'/'empty.mp4').write_bytes(b'')
    s = label_folder(d, ck, tmp_path/'run', workers=1)
    st = {k: (v['status'], v['message']) for k, v in s['per_video'].items()}
    assert st['cat/ok'][0] == 'labelled'
    out = tmp_path/'run'/'videoseg'
    assert sorted(p.name for p in (out/'masks'/'cat'/'ok').glob('*.png'))[:2] == ['00000.png', '00001.png']
    assert st['cat/text'][0] == 'error' and 'text.mp4' in st['cat/text'][1]
    assert st['dog/cut'][0] == 'error' and 'cut.mp4' in st['dog/cut'][1]
    assert st['dog/empty'][0] == 'error' and 'empty' in st['dog/empty'][1]


# ---------------------------------------------------------------- resuming, atomic outputs
def _outputs(out):
    return {p: p.stat().st_mtime_ns for p in Path(out).rglob('*')
            if p.is_file() and 'shards' not in p.parts and p.name != 'label_config.json'}


def test_resume_redoes_only_unfinished(tmp_path):
    "A run whose last video lost its JSON (killed before the end) redoes that video only, clearing its leftovers."
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'videos'
    for k in range(3): frame_folder(d, f'v{k}', squares(8, seed=k))
    (d/'labels.json').write_text(json.dumps({f'v{k}': 'dog' for k in range(3)}))
    _, srcs = list_videos(d)
    s = label_videos(srcs, ck, tmp_path/'run', FAST, workers=1)
    out = tmp_path/'run'/'videoseg'
    assert s['counts']['labelled'] == 3
    before = _outputs(out)
    p = video_paths(out, 'v2')
    p['json'].unlink()                                                   # as if killed just before the JSON
    (p['masks']/'stale.png').write_bytes(b'x')                            # and a half-written leftover
    (p['json'].parent/'.v2.json.abc.tmp.json').write_text('{')
    s = label_videos(srcs, ck, tmp_path/'run', FAST, workers=1)
    assert (s['skipped'], s['labelled_now']) == (2, 1)
    after = _outputs(out)
    for q, m in before.items():
        if 'v2' not in q.parts and q.stem != 'v2': assert after[q] == m, q  # finished videos untouched
    assert not (p['masks']/'stale.png').exists() and no_temp_files(tmp_path/'run') == []
    assert len(list(p['masks'].glob('*.png'))) == 8


def test_shards_write_disjoint_parts(tmp_path):
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'videos'
    for k in range(5): frame_folder(d, f'v{k}', squares(6, 32, 48, seed=k))
    (d/'labels.json').write_text(json.dumps({f'v{k}': 'cat' for k in range(5)}))
    a = label_folder(d, ck, tmp_path/'run', workers=1, shard='0/2')
    b = label_folder(d, ck, tmp_path/'run', workers=1, shard='1/2')
    assert sorted(a['per_video']) == ['v0', 'v2', 'v4'] and sorted(b['per_video']) == ['v1', 'v3']
    assert sorted(p.name for p in (tmp_path/'run'/'videoseg'/'shards').iterdir()) == ['0-of-2.json', '1-of-2.json']
    assert collect_labels(tmp_path/'run')['videos'] == 5


def test_other_configuration_is_refused(tmp_path):
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'videos'; frame_folder(d, 'v', squares(6, 32, 48)); (d/'labels.json').write_text('{"v": "cat"}')
    _, srcs = list_videos(d)
    label_videos(srcs, ck, tmp_path/'run', FAST, workers=1)
    with pytest.raises(ValueError, match=r"different configuration keys \['filter'\]"):
        other = LabelConfig(videoseg=FAST.videoseg, filter=FilterConfig(score_threshold=0.5))
        label_videos(srcs, ck, tmp_path/'run', other, workers=1)
    with pytest.raises(DataError, match='checkpoint not found'): label_videos(srcs, tmp_path/'none.pt', tmp_path/'run2')


def test_evaluate_scores_filtered_frames_as_background(tmp_path):
    from wsvseg.world import WorldConfig, write_world
    wcfg = WorldConfig(n_train=2, n_test=2, n_videos=3, frames=20, classes=('cat', 'dog', 'car'), static_classes=())
    write_world(wcfg, tmp_path/'w', mp4=False)
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    _, srcs = list_videos(tmp_path/'w')
    label_videos(srcs, ck, tmp_path/'run', FAST, workers=1)
    ev = evaluate_labels(tmp_path/'run', srcs, ablations=False)
    rows = ev['protocols']['object frames']['rows']
    assert ev['n_videos'] == 3 and set(rows) == {'attention (best threshold)', 'full energy'}
    per = ev['protocols']['object frames']['per_video']['full energy']
    assert per['car-002'] == 0.0                                       # rejected by the filter: background everywhere
    f = ev['filter']
    meta = [json.loads((tmp_path/'w'/'videos'/'Meta'/f'{s.name}.json').read_text())['present'] for s in srcs]
    n_present = sum(int(np.asarray(m)[:, 0].sum()) for m in meta)
    assert f['relevant_frames'] == n_present and f['irrelevant_frames'] == 60 - n_present
    assert f['irrelevant_rejected'] < 1 and f['relevant_kept'] < 1


# ---------------------------------------------------------------- a real kill, and two worker processes
KILL_SCRIPT = textwrap.dedent('''
    import sys, torch
    torch.set_num_threads(1)
    from wsvseg.core import LabelConfig, VideoSegConfig
    from wsvseg.data import list_videos
    from wsvseg.label import label_videos
    _, srcs = list_videos(sys.argv[1])
    label_videos(srcs, sys.argv[2], sys.argv[3], LabelConfig(videoseg=VideoSegConfig(n_superpixels=60)), workers=1)
''')


@pytest.mark.slow
def test_sigkill_then_resume_with_two_workers(tmp_path):
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'videos'
    for k in range(5): frame_folder(d, f'v{k}', squares(24, 96, 128, seed=k))
    (d/'labels.json').write_text(json.dumps({f'v{k}': 'dog' for k in range(5)}))
    script = tmp_path/'label.py'; script.write_text(KILL_SCRIPT)
    run = tmp_path/'run'; out = run/'videoseg'
    p = subprocess.Popen([sys.executable, str(script), str(d), str(ck), str(run)])
    t0 = time.time()
    while read_record(out, 'v0') is None and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.01)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    done = [f'v{k}' for k in range(5) if read_record(out, f'v{k}') is not None]
    assert 'v0' in done and len(done) < 5, done
    before = _outputs(out)
    _, srcs = list_videos(d)
    s = label_videos(srcs, ck, run, FAST, workers=2)
    assert s['skipped'] == len(done) and s['labelled_now'] == 5 - len(done) and s['counts']['labelled'] == 5
    after = _outputs(out)
    for q, m in before.items():
        if any(n in q.parts or q.name == f'{n}.json' or q.name == f'{n}.npz' for n in done): assert after[q] == m, q
    for k in range(5):
        assert len(list((out/'masks'/f'v{k}').glob('*.png'))) == 24 and (out/'attention'/f'v{k}.npz').is_file()
    assert no_temp_files(run) == []


# ---------------------------------------------------------------- streaming: the whole-video path as the reference
def reference_label_video(src, model, classes, out, cfg, filter_video):
    "One video labelled as before streaming (the whole video in memory, one graph cut per interval): the reference."
    p, c = video_paths(out, src.name), list(classes).index(src.label)
    rec = dict(name=src.name, label=src.label, source=src.path, status='error', message='', n_frames=0,
               frame_size=None, intervals=[], n_kept=0, frames=[], relevant=[], scores=[], notes=[], timings={})
    frames, names = read_frames(src, cfg.videoseg.max_side)
    rec.update(n_frames=len(frames), frame_size=list(frames.shape[1:3]), frames=names)
    fr = filter_video(class_scores(model, frames, batch_size=cfg.batch_size).numpy(), c, cfg.filter)
    rec.update(scores=np.round(fr.scores, 4), relevant=fr.relevant, intervals=fr.intervals, n_kept=fr.n_kept)
    kept = np.concatenate([np.arange(a, b) for a, b in fr.intervals])
    att = multiscale_attention(model, frames[kept], scales=cfg.scales, classes=[c], batch_size=cfg.batch_size)
    q, scale = quantise_attention(att[:, 0].numpy())
    if scale <= 0: rec['notes'].append('attention of the query class is zero (or negative) on every relevant frame')
    a_used, pos = dequantise_attention(q, scale), 0
    for a, b in fr.intervals:
        res = segment_video(frames[a:b], a_used[pos:pos + b - a], cfg.videoseg); pos += b - a
        rec['notes'] += [f'frames {a}-{b - 1}: {n}' for n in res.notes]
        for t in range(a, b): save_label_png(p['masks']/f'{names[t]}.png', res.masks[t - a])
    p['attention'].parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(p['attention'], attention=q, frames=np.asarray(kept, np.int32), scale=np.float32(scale))
    rec.update(status='labelled', message=f'{fr.n_kept} of {len(frames)} frames in {len(fr.intervals)} relevant '
                                          'interval(s)', seconds=0.0)
    atomic_write_json(p['json'], rec)


TIMED = ('timings', 'seconds')


def _masks(out) -> dict:
    return {p.relative_to(out): p.read_bytes() for p in (Path(out)/'masks').rglob('*.png')}


def _npz(path) -> dict:
    "The members of an .npz as stored (uncompressed bytes): np.save's header and data."
    with zipfile.ZipFile(path) as z: return {n: z.read(n) for n in z.namelist()}


def same_outputs(a, b, names):
    "Two stage folders hold byte-identical masks and attention members, and the same records but for their timings."
    assert _masks(a) == _masks(b) and len(_masks(a)) > 0
    for n in names:
        ra, rb = (json.loads(video_paths(o, n)['json'].read_text()) for o in (a, b))
        assert {k: v for k, v in ra.items() if k not in TIMED} == {k: v for k, v in rb.items() if k not in TIMED}, n
        pa, pb = (video_paths(o, n)['attention'] for o in (a, b))
        assert pa.is_file() == pb.is_file(), n
        if pa.is_file(): assert _npz(pa) == _npz(pb), n


def test_streamed_labelling_equals_the_whole_video_in_memory(tmp_path, monkeypatch):
    "Frames streamed in batches and attention through a temporary file: the masks, attention and records of before."
    from wsvseg import label as L
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    frame_folder(tmp_path/'videos', 'f0', squares(23, 48, 64, seed=1))
    (tmp_path/'videos'/'labels.json').write_text('{"f0": "dog"}')
    make_video(tmp_path/'mp4'/'dog'/'m0.mp4', n=21, h=48, w=64)        # 'dog': a non-zero attention
    srcs = list_videos(tmp_path/'videos')[1] + list_videos(tmp_path/'mp4')[1]
    real = L.filter_video
    def two_intervals(scores, c, cfg):                # frames 7-12 rejected: two intervals, batches across both
        s = scores.copy(); s[7:13] = 0
        return real(s, c, cfg)
    monkeypatch.setattr(L, 'filter_video', two_intervals)
    monkeypatch.setattr(L, 'read_frames', lambda *a, **k: pytest.fail('labelling read a whole video into memory'))
    cfg = replace(FAST, batch_size=4)
    model, classes = load_encoder(ck)
    for s in srcs:
        rec = L.label_video(s, model, classes, tmp_path/'new', cfg)
        assert rec['status'] == 'labelled' and rec['intervals'] == [(0, 7), (13, rec['n_frames'])], rec
        assert not any('zero' in n for n in rec['notes']), rec['notes']       # attention to compare, not zeros
        reference_label_video(s, model, classes, tmp_path/'ref', cfg, two_intervals)
    same_outputs(tmp_path/'new', tmp_path/'ref', [s.name for s in srcs])
    assert len(_masks(tmp_path/'new')) == (23 - 6) + (21 - 6) and no_temp_files(tmp_path/'new') == []


def test_a_long_interval_is_cut_in_windows(tmp_path):
    "An interval longer than max_frames: consecutive windows, each its own graph cut; every relevant frame a mask."
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    make_video(tmp_path/'mp4'/'dog'/'long.mp4', n=26, h=48, w=64)
    _, srcs = list_videos(tmp_path/'mp4')
    cfg = replace(FAST, max_frames=10)
    s = label_videos(srcs, ck, tmp_path/'run', cfg, workers=1)
    out = tmp_path/'run'/'videoseg'
    rec = read_record(out, 'dog/long')
    assert s['counts']['labelled'] == 1 and rec['intervals'] == [[0, 26]]
    wins = relevant_windows(rec['intervals'], cfg.max_frames)
    assert wins == [(0, 8), (8, 17), (17, 26)]
    masks = sorted((out/'masks'/'dog'/'long').glob('*.png'))
    assert len(masks) == 26 and masks[0].name == '00000.png'
    frames, _ = read_frames(srcs[0], cfg.videoseg.max_side)
    z = np.load(out/'attention'/'dog'/'long.npz')
    att = dequantise_attention(z['attention'], float(z['scale']))
    for a, b in wins:                                  # each window: segment_video on it alone
        m = segment_video(frames[a:b], att[a:b], cfg.videoseg).masks
        for t in range(a, b): assert (load_label_png(masks[t]) == m[t - a]).all(), t
    whole = replace(FAST, max_frames=300)
    assert relevant_windows(rec['intervals'], whole.max_frames) == [(0, 26)]
    assert no_temp_files(tmp_path/'run') == []


# ---------------------------------------------------------------- the encoder here, the graph cuts in workers
def test_split_labels_like_the_pool_and_resumes(tmp_path, monkeypatch):
    "split=True (forced on the CPU): outputs, records, error records and resumption of the default process pool."
    from wsvseg import label as L
    threads, real = [], L._attend                     # the producer's torch threads: one, as in a pool worker
    monkeypatch.setattr(L, '_attend', lambda *a: threads.append(torch.get_num_threads()) or real(*a))
    before = torch.get_num_threads()
    ck = tiny_checkpoint(tmp_path/'enc.pt')
    d = tmp_path/'videos'
    for k in range(4): frame_folder(d, f'v{k}', squares(10, seed=k))
    frame_folder(d, 'sizes', squares(4) + squares(4, 40, 64))
    (d/'labels.json').write_text(json.dumps({'v0': 'dog', 'v1': 'cat', 'v2': 'car', 'v3': 'zebra', 'sizes': 'cat'}))
    _, srcs = list_videos(d)
    pool = label_videos(srcs, ck, tmp_path/'pool', FAST, workers=2)
    split = label_videos(srcs, ck, tmp_path/'split', FAST, workers=2, split=True)
    assert pool['counts'] == split['counts'] == dict(labelled=2, irrelevant=1, error=2, lost=0)
    assert (pool['split'], split['split'], split['device']) == (False, True, 'cpu')
    assert pool['problems'] == split['problems'] and set(split['problems']) == {'v3', 'sizes'}
    assert 'differ in size' in split['problems']['sizes'] and "unknown class 'zebra'" in split['problems']['v3']
    same_outputs(tmp_path/'pool'/'videoseg', tmp_path/'split'/'videoseg', [s.name for s in srcs])
    assert no_temp_files(tmp_path/'split') == []
    assert threads == [1] * 5 and torch.get_num_threads() == before
    again = label_videos(srcs, ck, tmp_path/'split', FAST, workers=2, split=True)
    assert (again['labelled_now'], again['skipped']) == (0, 5)
    redo = label_videos(srcs, ck, tmp_path/'split', FAST, workers=2, split=True, redo_errors=True)
    assert (redo['labelled_now'], redo['counts']['error']) == (2, 2)


def test_split_and_device_settings():
    from wsvseg.cli import parser_for
    p, dests = parser_for('label-videos', '')
    assert dests['split'] == ('compute', 'split') and dests['max_frames'] == ('label', 'max_frames')
    assert p.parse_args(['--split', 'true', '--max-frames', '50']).split is True
    assert p.parse_args(['--split', 'none']).split is None
    with pytest.raises(ValueError, match="engine 'process'"): label_videos([], 'x.pt', 'run', split=True, engine='ray')
    with pytest.raises(ValueError, match='device must be'): label_videos([], 'x.pt', 'run', device='tpu')
