"""The metrics of `wsvseg.evaluate` against independent references written here with plain Python
loops over pixels (no NumPy reductions, no code shared with the module): the VOC comp6 confusion
matrix, IoU, mean IoU and accuracies on small random label maps with void pixels, classes absent
from both maps and empty predictions; streaming and merging; YouTube-Objects video IoU with sparse
annotation under both empty-frame conventions; classification AP against its definition, and the
attention-coverage measures on a hand-checked object."""
import json, math
import numpy as np
import pytest
from wsvseg.evaluate import (SegConfusion, VideoIoU, binary_iou, seg_table, video_table, average_precision,
                             mean_average_precision, object_attention_stats)

SEEDS = range(6)
IGNORE = 255


# ---------------------------------------------------------------- references (pixel loops)

def ref_confusion(pairs, C, ignore=IGNORE):
    "Rows: ground truth, columns: prediction; pixels whose ground truth is `ignore` are skipped."
    M = [[0] * C for _ in range(C)]
    for pred, gt in pairs:
        for pv, gv in zip(pred.ravel().tolist(), gt.ravel().tolist()):
            if gv == ignore: continue
            M[gv][pv] += 1
    return M


def ref_metrics(M):
    "Per-class IoU (None when undefined), mean IoU over defined classes, pixel and class accuracies."
    C = len(M)
    ious, accs = [], []
    for c in range(C):
        tp = M[c][c]
        fn = sum(M[c][k] for k in range(C) if k != c)
        fp = sum(M[r][c] for r in range(C) if r != c)
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else None)
        accs.append(tp / (tp + fn) if tp + fn else None)
    total = sum(sum(row) for row in M)
    correct = sum(M[c][c] for c in range(C))
    mean = lambda v: (sum(x for x in v if x is not None) / len([x for x in v if x is not None])
                      if any(x is not None for x in v) else None)
    return dict(iou=ious, miou=mean(ious), acc=accs, macc=mean(accs), pixacc=correct / total if total else None)


def ref_frame_iou(pred, gt, empty, ignore=IGNORE):
    inter = union = 0
    for pv, gv in zip(pred.ravel().tolist(), gt.ravel().tolist()):
        if gv == ignore: continue
        pv, gv = bool(pv), bool(gv)
        inter += pv and gv
        union += pv or gv
    if union: return inter / union
    return empty  # None = frame skipped


def ref_video_metrics(frames, empty):
    "frames: (video, class, frame, pred, gt-or-None). Returns per-video, per-class, class average, video average."
    per_frame = {}
    for vid, cls, t, pred, gt in frames:
        if gt is None: continue
        v = ref_frame_iou(pred, gt, empty)
        if v is not None: per_frame.setdefault((vid, cls), []).append(v)
    per_video = {vid: (cls, sum(v) / len(v)) for (vid, cls), v in per_frame.items()}
    by_class = {}
    for cls, v in per_video.values(): by_class.setdefault(cls, []).append(v)
    per_class = {c: sum(v) / len(v) for c, v in by_class.items()}
    return (per_video, per_class, sum(per_class.values()) / len(per_class),
            sum(v for _, v in per_video.values()) / len(per_video))


# ---------------------------------------------------------------- random data

def random_split(seed, n=5, C=7, absent=(3, 5)):
    """`n` random label maps of random small sizes with ~15% void pixels; classes in `absent` never occur in either
    map; one image's prediction is all background (an empty prediction); class C-1 occurs only in predictions."""
    rng = np.random.default_rng(seed)
    gt_classes = [c for c in range(C - 1) if c not in absent]
    pred_classes = [c for c in range(C) if c not in absent]
    pairs = []
    for i in range(n):
        h, w = rng.integers(3, 12, 2)
        gt = rng.choice(gt_classes, (h, w)).astype(np.uint8)
        gt[rng.random((h, w)) < 0.15] = IGNORE
        pred = np.where(rng.random((h, w)) < 0.5, np.where(gt == IGNORE, 0, gt), rng.choice(pred_classes, (h, w)))
        if i == 1: pred[:] = 0
        pairs.append((pred.astype(rng.choice([np.uint8, np.int32, np.int64])), gt))
    return pairs


def assert_matches(cm, M):
    ref = ref_metrics(M)
    assert cm.mat.tolist() == M
    for got, want in zip(cm.iou().tolist(), ref['iou']):
        assert (math.isnan(got) and want is None) or got == pytest.approx(want, abs=1e-12)
    for got, want in zip(cm.class_accuracy().tolist(), ref['acc']):
        assert (math.isnan(got) and want is None) or got == pytest.approx(want, abs=1e-12)
    assert cm.miou() == pytest.approx(ref['miou'], abs=1e-12)
    assert cm.mean_class_accuracy() == pytest.approx(ref['macc'], abs=1e-12)
    assert cm.pixel_accuracy() == pytest.approx(ref['pixacc'], abs=1e-12)


# ---------------------------------------------------------------- semantic segmentation

@pytest.mark.parametrize('seed', SEEDS)
def test_confusion_matches_pixel_loop_reference(seed):
    pairs = random_split(seed)
    cm = SegConfusion(7)
    for i, (p, g) in enumerate(pairs): cm.add(p, g, image_id=f'im{i}')
    M = ref_confusion(pairs, 7)
    assert_matches(cm, M)
    assert cm.absent() == [3, 5]                      # absent from both maps over the whole split
    assert cm.iou()[6] == 0.0                         # predicted, never in the ground truth: scored, IoU 0
    assert cm.n_images == len(pairs)
    assert cm.n_pixels == sum(int((g != IGNORE).sum()) for _, g in pairs)


@pytest.mark.parametrize('seed', SEEDS)
def test_streaming_equals_one_shot_over_concatenation(seed):
    pairs = random_split(seed, n=6)
    streamed = SegConfusion(7)
    for p, g in pairs: streamed.add(p, g)
    cat_p = np.concatenate([p.astype(np.int64).ravel() for p, _ in pairs])[None]
    cat_g = np.concatenate([g.ravel() for _, g in pairs])[None]
    one_shot = SegConfusion(7).add(cat_p, cat_g)
    assert streamed.mat.tolist() == one_shot.mat.tolist() == ref_confusion([(cat_p, cat_g)], 7)
    assert streamed.miou() == one_shot.miou()
    # the split-wide mean IoU is not the mean of per-image mean IoUs
    per_image = np.mean([SegConfusion(7).add(p, g).miou() for p, g in pairs])
    assert abs(per_image - streamed.miou()) > 1e-6


@pytest.mark.parametrize('seed', SEEDS)
def test_merge_equals_sequential(seed):
    pairs = random_split(seed, n=7)
    seq = SegConfusion(7)
    for p, g in pairs: seq.add(p, g)
    rng = np.random.default_rng(100 + seed)
    workers = [SegConfusion(7) for _ in range(3)]
    for p, g in pairs: workers[rng.integers(3)].add(p, g)
    before = [w.mat.copy() for w in workers]
    merged = workers[0].merge(*workers[1:])
    assert merged.mat.tolist() == seq.mat.tolist() and merged.n_images == len(pairs)
    assert (workers[2] + workers[0] + workers[1]).mat.tolist() == seq.mat.tolist()
    assert all((w.mat == b).all() for w, b in zip(workers, before))
    restored = SegConfusion.from_dict(json.loads(json.dumps(merged.to_dict())))
    assert_matches(restored, ref_confusion(pairs, 7))


def test_batch_equals_images():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 4, (3, 5, 6)); g[rng.random(g.shape) < 0.2] = IGNORE
    p = rng.integers(0, 4, (3, 5, 6))
    cm = SegConfusion(4).add(p, g)
    assert cm.n_images == 3
    assert cm.mat.tolist() == ref_confusion(list(zip(p, g)), 4)


def test_many_classes_and_no_ignore_label():
    "More than 181 classes takes the int64 index path; `ignore_index=None` scores every pixel."
    rng = np.random.default_rng(1)
    C = 300
    g, p = rng.integers(0, C, (9, 11)), rng.integers(0, C, (9, 11))
    g[0, 0], p[0, 0] = C - 1, C - 1
    assert_matches(SegConfusion(C, ignore_index=None).add(p, g), ref_confusion([(p, g)], C, ignore=None))


def test_empty_prediction_and_all_void():
    g = np.array([[0, 1, 1], [2, 255, 1]])
    cm = SegConfusion(3).add(np.zeros_like(g), g)
    assert_matches(cm, ref_confusion([(np.zeros_like(g), g)], 3))
    assert cm.iou().tolist() == [pytest.approx(1 / 5), 0.0, 0.0]
    void = SegConfusion(3).add(np.zeros((2, 2), int), np.full((2, 2), IGNORE))
    assert void.n_pixels == 0 and math.isnan(void.miou()) and math.isnan(void.pixel_accuracy())
    s = void.summary(['a', 'b', 'c'])
    assert s['miou'] is None and s['iou'] == {'a': None, 'b': None, 'c': None}
    assert s['absent_classes'] == ['a', 'b', 'c']
    json.dumps(s, allow_nan=False)


def test_bad_input_is_refused_and_changes_nothing():
    cm = SegConfusion(3).add(np.zeros((2, 2), int), np.zeros((2, 2), int))
    before = cm.mat.copy()
    with pytest.raises(ValueError, match=r"image 'a\.png': the prediction has label\(s\) \[3\]"):
        cm.add(np.array([[0, 3]]), np.array([[0, 0]]), image_id='a.png')
    with pytest.raises(ValueError, match=r'label\(s\) \[-1\]'):
        cm.add(np.array([[0, -1]]), np.array([[0, 0]]))
    with pytest.raises(ValueError, match=r"image 'b': the prediction is 2x3 but the ground truth is 3x2"):
        cm.add(np.zeros((2, 3), int), np.zeros((3, 2), int), image_id='b')
    with pytest.raises(ValueError, match='neither classes 0..2 nor the ignore label 255'):
        cm.add(np.zeros((1, 2), int), np.array([[0, 7]]))
    with pytest.raises(TypeError, match='integer label map'):
        cm.add(np.zeros((1, 2)), np.zeros((1, 2), int))
    with pytest.raises(ValueError, match='H×W label map'):
        cm.add(np.zeros(4, int), np.zeros(4, int))
    assert (cm.mat == before).all() and cm.n_images == 1


# ---------------------------------------------------------------- video segmentation

def random_videos(seed, n_videos=7, classes=('car', 'cat', 'dog'), every=10):
    """Random masks on videos annotated every `every`-th frame; some annotated frames have an empty ground truth with an
    empty prediction, some an empty prediction on a present object, some void pixels."""
    rng = np.random.default_rng(seed)
    frames = []
    for v in range(n_videos):
        cls, n = classes[v % len(classes)], int(rng.integers(11, 45))
        for t in range(n):
            pred = rng.random((6, 8)) < rng.uniform(0.1, 0.6)
            if t % every:
                frames.append((f'v{v}', cls, t, pred, None))
                continue
            gt = (rng.random((6, 8)) < rng.uniform(0.1, 0.6)).astype(np.uint8)
            r = rng.random()
            if r < 0.2: gt[:], pred[:] = 0, False               # nothing there, nothing predicted
            elif r < 0.3: pred[:] = False                       # object missed entirely
            elif r < 0.4: gt[:] = 0                             # object hallucinated
            gt[rng.random(gt.shape) < 0.1] = IGNORE
            frames.append((f'v{v}', cls, t, pred, gt))
    order = rng.permutation(len(frames))                        # frames arrive in any order
    return [frames[i] for i in order]


@pytest.mark.parametrize('empty', [1.0, None])
@pytest.mark.parametrize('seed', SEEDS)
def test_video_iou_matches_reference(seed, empty):
    frames = random_videos(seed)
    vs = VideoIoU(empty=empty)
    for f in frames: vs.add(*f)
    per_video, per_class, class_avg, video_avg = ref_video_metrics(frames, empty)
    got = vs.per_video()
    assert set(got) == set(per_video)
    for vid, (cls, v) in per_video.items():
        assert got[vid]['class'] == cls and got[vid]['iou'] == pytest.approx(v, abs=1e-12)
    assert vs.per_class() == pytest.approx(per_class, abs=1e-12)
    assert vs.class_average() == pytest.approx(class_avg, abs=1e-12)
    assert vs.video_average() == pytest.approx(video_avg, abs=1e-12)
    assert vs.n_unannotated == sum(f[4] is None for f in frames)
    for vid, cls, t, pred, gt in frames[:20]:
        if gt is not None:
            want = ref_frame_iou(pred, gt, empty)
            got_iou = binary_iou(pred, gt, empty=empty)
            assert (want is None and math.isnan(got_iou)) or got_iou == pytest.approx(want, abs=1e-12)


def test_unannotated_frames_never_count():
    frames = random_videos(3)
    a, b = VideoIoU(), VideoIoU()
    for f in frames: a.add(*f)
    for vid, cls, t, pred, gt in frames: b.add(vid, cls, t, ~pred if gt is None else pred, gt)
    assert a.summary() == b.summary()
    annotated_only = VideoIoU()
    for f in frames:
        if f[4] is not None: annotated_only.add(*f)
    assert annotated_only.per_video() == a.per_video()


def test_empty_frame_conventions_differ_only_on_empty_frames():
    g = np.zeros((4, 4), np.uint8); g[1:3, 1:3] = 1
    e = np.zeros((4, 4), np.uint8)
    for conv, want in ((1.0, (1 + 1) / 2), (None, 1.0)):
        vs = VideoIoU(empty=conv)
        vs.add('v', 'cow', 0, g, g).add('v', 'cow', 10, e, e)
        assert vs.video_average() == want
    only_empty = VideoIoU(empty=None).add('v', 'cow', 0, e, e)
    assert only_empty.per_video()['v']['frames'] == 0 and math.isnan(only_empty.video_average())
    assert only_empty.summary()['video_average'] is None


@pytest.mark.parametrize('seed', SEEDS)
def test_video_merge_equals_sequential(seed):
    frames = random_videos(seed)
    seq = VideoIoU()
    for f in frames: seq.add(*f)
    rng = np.random.default_rng(seed)
    parts = [VideoIoU() for _ in range(3)]
    for f in frames: parts[rng.integers(3)].add(*f)            # frames of one video spread over workers
    assert parts[0].merge(*parts[1:]).summary() == seq.summary()
    assert VideoIoU.from_dict(json.loads(json.dumps(seq.to_dict()))).summary() == seq.summary()


def test_video_bad_input():
    m = np.ones((3, 3), bool)
    vs = VideoIoU().add('v1', 'cat', 0, m, m)
    with pytest.raises(ValueError, match="video 'v1' frame 0: added twice"): vs.add('v1', 'cat', 0, m, m)
    with pytest.raises(ValueError, match="class 'dog', but the video was added as 'cat'"): vs.add('v1', 'dog', 5, m, m)
    with pytest.raises(ValueError, match='no mask was predicted'): vs.add('v1', 'cat', 10, None, m)
    with pytest.raises(ValueError, match=r'value\(s\) \[2\]'): vs.add('v1', 'cat', 10, m.astype(int) * 2, m)
    with pytest.raises(ValueError, match=r'value\(s\) \[7\]; expected 0/1 or 255'):
        vs.add('v1', 'cat', 10, m, m.astype(int) * 7)
    with pytest.raises(ValueError, match='3x2'): vs.add('v1', 'cat', 10, m[:, :2], m)
    assert vs.n_frames == 1


# ---------------------------------------------------------------- tables

def test_tables_print_percent_from_reference_values():
    pairs = random_split(0)
    cm = SegConfusion(7)
    for p, g in pairs: cm.add(p, g)
    ref = ref_metrics(ref_confusion(pairs, 7))
    names = ['background', 'a', 'b', 'c', 'd', 'e', 'f']
    for fmt in ('text', 'markdown'):
        lines = seg_table({'m': cm}, class_names=names, fmt=fmt).splitlines()
        cells = [c for c in lines[-1].replace('|', ' ').split()][1:]
        want = ['-' if v is None else f'{100 * v:.1f}' for v in ref['iou']] + [f'{100 * ref["miou"]:.1f}']
        assert cells == want
    frames = random_videos(0)
    vs = VideoIoU()
    for f in frames: vs.add(*f)
    _, _, ca, va = ref_video_metrics(frames, 1.0)
    assert video_table({'m': vs}).splitlines()[-1].split() == ['m', f'{100 * ca:.1f}', f'{100 * va:.1f}']


# ---------------------------------------------------------------- classification and attention
def ap_reference(scores, labels):
    "AP from its definition: for each distinct threshold, precision and recall of everything at or above it."
    P, ap, r_prev = sum(labels), 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        sel = [l for s, l in zip(scores, labels) if s >= t]
        r = sum(sel) / P
        ap += (r - r_prev) * sum(sel) / len(sel)
        r_prev = r
    return ap


def test_average_precision_matches_reference():
    g = np.random.default_rng(0)
    for _ in range(300):
        n = int(g.integers(1, 40))
        s = np.round(g.random(n), int(g.integers(1, 3)))
        t = g.random(n) < g.uniform(0.1, 0.9)
        if not t.any(): continue
        assert math.isclose(average_precision(s, t), ap_reference(list(s), list(t.astype(int))), abs_tol=1e-12)
    assert average_precision([3, 2, 1], [1, 1, 0]) == 1.0
    assert math.isclose(average_precision([1, 1, 1], [1, 0, 0]), 1 / 3)          # all tied: precision of the whole set
    m, ap = mean_average_precision(np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5]]), np.array([[1, 0, 0], [0, 1, 0]]))
    assert m == 1.0 and math.isnan(ap[2])                           # a class without positives is left out


def test_object_stats_part_vs_whole():
    inst = np.zeros((30, 30), np.uint8); inst[5:25, 5:25] = 1; inst[5, 5:25] = 255
    parts = np.zeros_like(inst); parts[6:10, 6:10] = 1
    att = np.zeros((2, 30, 30), np.float32); att[0, 6:10, 6:10] = 1.0
    (s,) = object_attention_stats(att, inst, {1: 1}, parts, thresholds=(0.5,))
    assert s['peak_in_object'] and s['peak_in_part'] and s['part_covered'][0] == 1.0 and s['part_iou'][0] == 1.0
    assert math.isclose(s['whole_iou'][0], 16 / (19 * 20))                        # void row excluded from the object
