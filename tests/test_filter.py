"""Frame filtering (§3.2, `wsvseg.filter`): bad input and a property check of the relevant intervals
against a plain loop. The documented behaviour is in nbs/04_filter.ipynb."""
import numpy as np
import pytest

from wsvseg.core import FilterConfig
from wsvseg.filter import filter_video, relevance_scores, relevant_frames, relevant_intervals


def _intervals_loop(rel, min_run):
    "Reference: walk the frames, close a run at every 0 and at the end, keep runs longer than min_run."
    out, start = [], None
    for t, r in enumerate(list(rel) + [False]):
        if r and start is None: start = t
        if not r and start is not None:
            if t - start > min_run: out.append((start, t))
            start = None
    return out


@pytest.mark.parametrize('seed', range(20))
def test_intervals_match_loop(seed):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(0, 60))
    rel = rng.random(T) < rng.uniform(0.3, 0.95)
    for min_run in (0, 1, 5, 8):
        assert relevant_intervals(rel, min_run) == _intervals_loop(rel, min_run)


@pytest.mark.parametrize('scores,y,cfg,intervals,reason', [
    (np.zeros((0, 4)), 0, None, [], 'the video has no frames'),
    ([[0.9, 0.1]], 0, None, [], 'no run of more than 5 relevant frames (longest 1 of 1 frames)'),
    (np.full((5, 2), 0.99), [1, 0], None, [], 'no run of more than 5 relevant frames (longest 5 of 5 frames)'),
    (np.full((6, 2), 0.99), [1, 0], None, [(0, 6)], ''),
    (np.full((9, 2), 0.8), 1, None, [], 'no frame scores above 0.8 (best 0.800 of 9 frames)'),   # "larger than"
    (np.full((9, 1), np.nan), 0, None, [], 'no frame scores above 0.8 (best nan of 9 frames)'),
    (np.r_[np.full(6, 0.9), [np.nan], np.full(7, 0.9)][:, None], 0, None, [(0, 6), (7, 14)], ''),  # a NaN splits a run
    (np.r_[np.full(3, 0.9), np.full(3, 0.1)][:, None], 0, FilterConfig(score_threshold=0.05, min_run=5), [(0, 6)], ''),
], ids=['no frames', 'one frame', 'run of exactly 5', 'run of 6', 'at the threshold', 'all NaN', 'NaN splits',
        'config'])
def test_filter_catalogue(scores, y, cfg, intervals, reason):
    r = filter_video(scores, y, cfg)
    assert r.intervals == intervals and r.reason == reason
    assert r.scores.shape == r.relevant.shape == (len(np.asarray(scores)),)


@pytest.mark.parametrize('scores,y,msg', [
    (np.zeros((3, 2)), [1, 0, 0], 'has 3 entries'),
    (np.zeros((3, 2)), [0, 0], 'one-hot'),
    (np.zeros((3, 2)), [-1, 2], 'one-hot'),
    (np.zeros((3, 2)), 5, 'out of range'),
    (np.zeros((3, 2, 2)), 0, '(T, C)'),
    (np.zeros(3), 0, '(T, C)'),
])
def test_filter_bad_input(scores, y, msg):
    with pytest.raises((ValueError, IndexError), match=None) as e: filter_video(scores, y)
    assert msg in str(e.value)


def test_scores_and_threshold():
    p = np.array([[0.1, 0.9], [0.85, 0.2]])
    np.testing.assert_allclose(relevance_scores(p, [0, 1]), [0.9, 0.2])
    assert relevant_frames([0.5, 0.9, np.nan], 0.6).tolist() == [False, True, False]
