"""Throughput of the evaluation metrics (wsvseg.evaluate) against a straightforward per-pixel loop.

Confusion matrix: VOC-sized label maps (500x375, 21 classes, 5% void pixels), images/s of
`SegConfusion.add` (one np.bincount per image). Video IoU: 320x240 binary masks, frames/s of
`VideoIoU.add`. The per-pixel loop runs on one small image only and is extrapolated per pixel, so
the script takes a few seconds; the ratio is what compares across machines. Prints, asserts nothing.

    python bench/bench_metrics.py
"""
import sys, time
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wsvseg.evaluate import SegConfusion, VideoIoU

IGNORE = 255


def loop_confusion(pred, gt, C):
    "The textbook version: one Python step per pixel."
    M = [[0] * C for _ in range(C)]
    H, W = gt.shape
    for i in range(H):
        for j in range(W):
            g = gt[i, j]
            if g != IGNORE: M[g][pred[i, j]] += 1
    return M


def loop_frame_counts(pred, gt):
    inter = union = 0
    H, W = gt.shape
    for i in range(H):
        for j in range(W):
            p, g = pred[i, j], gt[i, j]
            inter += p and g
            union += p or g
    return inter, union


def best_of(f, repeat=3):
    "Fastest of `repeat` runs of f(), in seconds (the least disturbed by other work on the machine)."
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return min(ts)


def label_maps(rng, n, H, W, C):
    gt = rng.integers(0, C, (n, H, W), dtype=np.uint8)
    gt[rng.random(gt.shape) < 0.05] = IGNORE
    right = np.where(gt == IGNORE, 0, gt)
    pred = np.where(rng.random(gt.shape) < 0.6, right, rng.integers(0, C, gt.shape)).astype(np.uint8)
    return pred, gt


def main():
    rng = np.random.default_rng(0)
    C, H, W, N = 21, 375, 500, 50
    pred, gt = label_maps(rng, N, H, W, C)

    def vectorised():
        cm = SegConfusion(C)
        for p, g in zip(pred, gt): cm.add(p, g)
    t_vec = best_of(vectorised) / N

    sp, sg = label_maps(rng, 1, 60, 80, C)
    sp, sg = sp[0], sg[0]
    assert loop_confusion(sp, sg, C) == SegConfusion(C).add(sp, sg).mat.tolist()  # same counts, so the race is fair
    t_loop = best_of(lambda: loop_confusion(sp, sg, C)) / sg.size * H * W

    print(f'confusion matrix, {W}x{H}, {C} classes ({N} images):')
    print(f'  SegConfusion.add   {1 / t_vec:9.1f} images/s  ({t_vec * 1e3:.2f} ms/image)')
    print(f'  per-pixel loop     {1 / t_loop:9.2f} images/s  '
          f'({t_loop * 1e3:.0f} ms/image, extrapolated from {sg.shape[1]}x{sg.shape[0]})')
    print(f'  ratio              {t_loop / t_vec:9.0f}x')
    print(f'  a 1,449-image VOC val split: {1449 * t_vec:.1f} s against {1449 * t_loop / 60:.0f} min')

    H, W, N = 240, 320, 100
    gm = rng.random((N, H, W)) < 0.3
    pm = rng.random((N, H, W)) < 0.3

    def video():
        vs = VideoIoU()
        for t in range(N): vs.add('v', 'car', t, pm[t], gm[t])
    t_vid = best_of(video) / N
    sp, sg = pm[0, :60, :80], gm[0, :60, :80]
    t_vloop = best_of(lambda: loop_frame_counts(sp, sg)) / sg.size * H * W
    print(f'video IoU, {W}x{H} binary masks ({N} frames):')
    print(f'  VideoIoU.add       {1 / t_vid:9.1f} frames/s  ({t_vid * 1e3:.2f} ms/frame)')
    print(f'  per-pixel loop     {1 / t_vloop:9.2f} frames/s  (extrapolated from 80x60)')
    print(f'  ratio              {t_vloop / t_vid:9.0f}x')


if __name__ == '__main__':
    main()
