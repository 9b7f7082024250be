"""Video segmentation (§3.2, `wsvseg.videoseg`): the bad-input catalogue of `segment_video`, checks of
the vectorised pieces against plain loops, and filter → segment on one video, as a driver calls them.
The documented behaviour is in nbs/05_videoseg.ipynb."""
import dataclasses, itertools
import numpy as np
import pytest

from wsvseg.core import FilterConfig, VideoSegConfig
from wsvseg.filter import filter_video
from wsvseg.videoseg import (fit_gmm, graph_cut, labelling_energy, ray_crossings, segment_video, spatial_edges,
                             superpixels, temporal_edges, toy_video)

CFG = VideoSegConfig(n_superpixels=200)
T, H, W = 6, 120, 160


@pytest.fixture(scope='module')
def vid():
    return toy_video(T=T, H=H, W=W, seed=4)


def _iou(a, b):
    a, b = a > 0, b > 0
    return (a & b).sum() / max((a | b).sum(), 1)


def _frames(v):  return v['frames']
def _att(v):     return v['attention']
def _no_att(v):  return np.zeros_like(v['attention'])
def _black(v):   return np.zeros_like(v['frames'])
def _first(k, n): return lambda v: v[k][:n]

# name: (frames from the toy video, attention from it, VideoSegConfig fields changed from CFG, expected (T, H, W),
#        a note that must appear, None for no note, ... for any)
CATALOGUE = {
    'clean':              (_frames, _att, {}, (T, H, W), None),
    'no frames (array)':  (_first('frames', 0), _first('attention', 0), {}, (0, H, W), 'no frames'),
    'no frames (list)':   (lambda v: [], lambda v: [], {}, (0, 0, 0), 'no frames'),
    'single frame':       (_first('frames', 1), _first('attention', 1), {}, (1, H, W), 'single frame'),
    'static frames':      (lambda v: np.repeat(v['frames'][:1], 4, 0), _first('attention', 4), {}, (4, H, W),
                           'no usable motion in 4 of 4'),
    'all black':          (_black, _att, {}, (T, H, W), 'no usable motion'),
    'all black, no attention': (_black, _no_att, {}, (T, H, W), 'every frame labelled background'),
    'one superpixel':     (_frames, _att, {'n_superpixels': 1}, (T, H, W), 'one superpixel per frame'),
    'empty attention':    (_frames, _no_att, {}, (T, H, W), 'attention is empty'),
    'some NaN attention': (_frames, lambda v: np.where(np.arange(W) < 20, np.nan, v['attention']).astype(np.float32),
                           {}, (T, H, W), 'non-finite values'),
    'all NaN attention':  (_frames, lambda v: np.full_like(v['attention'], np.nan), {}, (T, H, W),
                           'attention is empty'),
    'inf attention':      (_frames, lambda v: np.where(v['attention'] > 0.9, np.inf, v['attention']), {}, (T, H, W),
                           'non-finite values'),
    'negative attention (raw CAM)': (_frames, lambda v: 5 * v['attention'] - 2, {}, (T, H, W), None),
    'coarse attention (CAM size)':  (_frames, lambda v: v['attention'][:, ::8, ::8], {}, (T, H, W), None),
    'attention (T, 1, h, w)':       (_frames, lambda v: v['attention'][:, None], {}, (T, H, W), None),
    'grey frames':        (lambda v: v['frames'].mean(-1).astype(np.uint8), _att, {}, (T, H, W), 'grey frames'),
    'float frames':       (lambda v: v['frames'] / 255.0, _att, {}, (T, H, W), None),
    'RGBA frames':        (lambda v: np.concatenate([v['frames'], np.full((T, H, W, 1), 255, np.uint8)], -1), _att, {},
                           (T, H, W), None),
    'list of frames':     (lambda v: list(v['frames']), lambda v: list(v['attention']), {}, (T, H, W), None),
    'tiny frames':        (lambda v: v['frames'][:, :6, :8], lambda v: v['attention'][:, :6, :8], {}, (T, 6, 8), ...),
    'large frames':       (lambda v: np.repeat(np.repeat(v['frames'][:3], 4, 1), 4, 2), _first('attention', 3), {},
                           (3, 4 * H, 4 * W), None),
    'without A':          (_frames, _att, {'use_attention': False}, (T, H, W), None),
    'without M':          (_frames, _att, {'use_motion': False}, (T, H, W), None),
    'without C':          (_frames, _att, {'use_appearance': False}, (T, H, W), None),
    'M only':             (_frames, _no_att, {'use_attention': False, 'use_appearance': False}, (T, H, W), None),
    'M and C, no attention': (_frames, _no_att, {'use_attention': False}, (T, H, W), 'seeded by motion'),
    'two GMM rounds':     (_frames, _att, {'gmm_rounds': 2}, (T, H, W), None),
    'attention per frame': (_frames, _att, {'attention_norm': 'frame'}, (T, H, W), None),
}


@pytest.mark.parametrize('name', list(CATALOGUE))
def test_bad_input_catalogue(vid, name):
    fr, at, kw, shape, note = CATALOGUE[name]
    r = segment_video(fr(vid), at(vid), dataclasses.replace(CFG, **kw))
    assert r.masks.shape == shape and r.masks.dtype == np.uint8
    assert set(np.unique(r.masks)) <= {0, 1}
    if note is None: assert not r.notes, r.notes
    elif note is not ...: assert any(note in n for n in r.notes), r.notes
    assert np.isfinite(r.energy)


def test_clean_video_is_segmented(vid):
    r = segment_video(vid['frames'], vid['attention'], CFG)
    assert np.mean([_iou(m, g) for m, g in zip(r.masks, vid['masks'])]) > 0.7
    assert r.n_temporal > 0 and r.n_spatial > 0 and r.n_nodes > 50 * T


def test_nan_attention_still_segments(vid):
    a = vid['attention'].copy(); a[:, :, :20] = np.nan
    r = segment_video(vid['frames'], a, CFG)
    assert np.mean([_iou(m, g) for m, g in zip(r.masks, vid['masks'])]) > 0.6


@pytest.mark.parametrize('frames,attention,cfg,msg', [
    (np.zeros((3, 8, 8, 3), np.uint8), np.zeros((2, 8, 8)), None, 'T = 3 frames'),
    (np.zeros((3, 8, 8, 3), np.uint8), np.zeros((3, 8)), None, 'attention must be (T, h, w)'),
    (np.zeros((3, 8, 8, 5), np.uint8), np.zeros((3, 8, 8)), None, 'frames must be (T, H, W, 3)'),
    (np.zeros(5), np.zeros(5), None, 'frames must be'),
    ([np.zeros((8, 8, 3)), np.zeros((9, 8, 3))], np.zeros((2, 8, 8)), None, 'frames differ in size'),
    (np.zeros((3, 8, 8, 3), np.uint8), np.zeros((3, 8, 8)),
     VideoSegConfig(use_attention=False, use_motion=False, use_appearance=False), 'every unary term is switched off'),
    (np.zeros((3, 8, 8, 3), np.uint8), np.zeros((3, 8, 8)), VideoSegConfig(flow='farneback'),
     "unknown flow 'farneback'"),
])
def test_caller_errors(frames, attention, cfg, msg):
    with pytest.raises(ValueError) as e: segment_video(frames, attention, cfg)
    assert msg in str(e.value)


def test_filter_then_segment_intervals(vid):
    "A driver's loop: score frames, keep the relevant intervals, segment each on its own."
    frames = np.concatenate([vid['frames'], np.zeros((3, H, W, 3), np.uint8), vid['frames']])
    att = np.concatenate([vid['attention'], np.zeros((3, H, W), np.float32), vid['attention']])
    scores = np.r_[np.full(T, 0.95), np.full(3, 0.1), np.full(T, 0.9)][:, None]
    fr = filter_video(scores, 0, FilterConfig())
    assert fr.intervals == [(0, T), (T + 3, 2 * T + 3)]
    for a, b in fr.intervals:
        r = segment_video(frames[a:b], att[a:b], CFG)
        assert r.masks.shape == (b - a, H, W) and r.masks.any()


# vectorised pieces against plain loops

def _rays_loop(b):
    out = np.zeros((8,) + b.shape, int)
    for k, (dy, dx) in enumerate([(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)]):
        for y, x in itertools.product(range(b.shape[0]), range(b.shape[1])):
            yy, xx, on = y + dy, x + dx, False
            while 0 <= yy < b.shape[0] and 0 <= xx < b.shape[1]:
                out[k, y, x] += bool(b[yy, xx]) and not on
                on = bool(b[yy, xx]); yy += dy; xx += dx
    return out


@pytest.mark.parametrize('seed', range(6))
def test_ray_crossings_match_loop(seed):
    rng = np.random.default_rng(seed)
    b = rng.random((int(rng.integers(1, 15)), int(rng.integers(1, 15)))) < rng.uniform(0.1, 0.7)
    np.testing.assert_array_equal(ray_crossings(b), _rays_loop(b))


@pytest.mark.parametrize('seed', range(6))
def test_graph_cut_is_exact(seed):
    rng = np.random.default_rng(100 + seed)
    n = 11
    e0, e1 = rng.random(n) * 3, rng.random(n) * 3
    if seed % 2: e1[: n // 2] = e0[: n // 2]                     # ties
    pairs = np.array([(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.3]).reshape(-1, 2)
    w = rng.random(len(pairs)) * 2 * (rng.random(len(pairs)) > 0.2)   # some zero weights
    l = graph_cut(e0, e1, pairs[:, 0], pairs[:, 1], w)
    best = min(labelling_energy(np.array(x), e0, e1, pairs[:, 0], pairs[:, 1], w)
               for x in itertools.product([0, 1], repeat=n))
    assert abs(labelling_energy(l, e0, e1, pairs[:, 0], pairs[:, 1], w) - best) < 1e-9


def test_weighted_gmm_equals_duplicates():
    rng = np.random.default_rng(7)
    X = rng.random((60, 3)); w = rng.integers(1, 5, 60)
    a = fit_gmm(X, w, k=4, max_iter=20, tol=-np.inf)
    b = fit_gmm(np.repeat(X, w, 0), k=4, max_iter=20, tol=-np.inf)
    for u, v in ((a.weights, b.weights), (a.means, b.means), (a.covs, b.covs)):
        np.testing.assert_allclose(u, v, atol=1e-10)


def test_gmm_against_sklearn():
    from sklearn import mixture   # a dev dependency: the reference GMM
    rng = np.random.default_rng(8)
    X = np.concatenate([rng.normal(0.2, 0.05, (200, 3)), rng.normal(0.7, 0.08, (300, 3))])
    g = fit_gmm(X, k=2, tol=1e-10, max_iter=500)
    s = mixture.GaussianMixture(2, reg_covar=1e-4, tol=1e-10, max_iter=500, means_init=g.means).fit(X)
    np.testing.assert_allclose(np.sort(s.means_[:, 0]), np.sort(g.means[:, 0]), atol=1e-6)


def test_edges_match_loop():
    rng = np.random.default_rng(3)
    L0 = superpixels(rng.integers(0, 255, (30, 40, 3)).astype(np.uint8), 20, scale=1.0)
    L1 = np.roll(L0, 2, 1)
    ref = {(min(a, b), max(a, b)) for y in range(30) for x in range(40) for a, b in
           [(L0[y, x], L0[y, x + 1]) if x + 1 < 40 else (0, 0), (L0[y, x], L0[y + 1, x]) if y + 1 < 30 else (0, 0)]
           if a != b}
    assert {tuple(e) for e in spatial_edges(L0).tolist()} == ref
    flow = rng.normal(0, 2, (30, 40, 2)).astype(np.float32)
    i, j, phi = temporal_edges(L0, L1, flow)
    cnt = {}
    for y, x in itertools.product(range(30), range(40)):
        x1, y1 = int(np.rint(x + flow[y, x, 0])), int(np.rint(y + flow[y, x, 1]))
        if 0 <= x1 < 40 and 0 <= y1 < 30: cnt[(L0[y, x], L1[y1, x1])] = cnt.get((L0[y, x], L1[y1, x1]), 0) + 1
    size = np.bincount(L0.ravel())
    got = dict(zip(zip(i.tolist(), j.tolist()), phi.tolist()))
    assert {(a, b): c / size[a] for (a, b), c in cnt.items()} == pytest.approx(got)


def test_settings_come_from_the_config_only(vid):
    "segment_video's settings are VideoSegConfig fields: the old keyword settings are refused."
    with pytest.raises(TypeError): segment_video(vid['frames'], vid['attention'], CFG, use_motion=False)
    a = segment_video(vid['frames'], vid['attention'], dataclasses.replace(CFG, attention_range=(0.3, 0.95)))
    b = segment_video(vid['frames'], vid['attention'], CFG)
    assert CFG.attention_range == (0.05, 0.9) and a.energy != b.energy
