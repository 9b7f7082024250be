"""Throughput of the video labeller of §3.2 (wsvseg.videoseg.segment_video), without the network.

A synthetic 320x240 video (`toy_video`: textured object resting for a while, moving distractor, panning
camera; attention given as an array) is labelled with the default `VideoSegConfig` (~400 superpixels
per frame, DIS flow preset fast). Prints frames/s and ms/frame per stage (superpixels, flow, unaries =
attention + motion + appearance, graph, cut, the rest = input preparation and painting the masks):
1. one process, best of `--repeats`;
2. `--workers` processes, each labelling its own copy of the video (what a process pool over relevant
   intervals does): aggregate frames/s;
3. the peer: the same pipeline with SLIC at full resolution and its default 10 iterations, the
   straightforward choice (ratio = how much the downscaled, 4-iteration SLIC saves end to end).
The IoU against the toy's ground truth is printed as a sanity check. Prints, asserts nothing.

    python bench/bench_videoseg.py [--frames 60] [--workers 2] [--repeats 3]
"""
import argparse, dataclasses, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cv2
from wsvseg.core import VideoSegConfig
from wsvseg.videoseg import segment_video, superpixels, toy_video

STAGES = {'superpixels': ['superpixels'], 'flow': ['flow'], 'unaries': ['stats', 'attention', 'motion', 'appearance'],
          'graph': ['graph'], 'cut': ['cut'], 'other': ['prepare', 'masks']}


def _video(T, seed=0):
    return toy_video(T=T, H=240, W=320, seed=seed, rest=(T // 3, T // 2))


def _run(args):
    T, seed, kw = args                                                  # kw: VideoSegConfig fields changed
    cv2.setNumThreads(1)
    v = _video(T, seed)
    t0 = time.perf_counter()
    r = segment_video(v['frames'], v['attention'], dataclasses.replace(VideoSegConfig(), **kw))
    wall = time.perf_counter() - t0
    iou = np.mean([((m > 0) & (g > 0)).sum() / max(((m > 0) | (g > 0)).sum(), 1) for m, g in zip(r.masks, v['masks'])])
    return r.timings, wall, r.n_nodes / T, float(iou), len(r.masks)


def _breakdown(tm, T):
    return '  '.join(f'{k} {1e3 * sum(tm.get(s, 0) for s in ss) / T:5.1f}' for k, ss in STAGES.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--frames', type=int, default=60)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    T = a.frames
    print(f'video labelling, 320x240, {T} frames, VideoSegConfig() defaults; {os.cpu_count()} CPUs, '
          f'load {os.getloadavg()[0]:.1f}')

    _run((4, 0, {}))                                                    # warm-up (imports, DIS objects)
    best = min((_run((T, 0, {})) for _ in range(a.repeats)), key=lambda r: r[1])
    tm, wall, nsp, iou, _ = best
    print(f'1 process : {T / wall:6.1f} frames/s  ({nsp:.0f} superpixels/frame, IoU {iou:.3f})')
    print(f'  ms/frame: {_breakdown(tm, T)}')

    if a.workers > 1:
        with ProcessPoolExecutor(a.workers) as ex:
            list(ex.map(_run, [(4, 0, {})] * a.workers))                  # start and warm the workers
            t0 = time.perf_counter()
            outs = list(ex.map(_run, [(T, s, {}) for s in range(a.workers)]))
            wall2 = time.perf_counter() - t0
        n = sum(o[4] for o in outs)
        print(f'{a.workers} processes: {n / wall2:6.1f} frames/s aggregate '
              f'({a.workers} videos of {T} frames in {wall2:.2f} s)')

    peer = _run((T, 0, {'superpixel_scale': 1.0, 'slic_iters': 10}))
    print(f'peer (SLIC at full size, 10 iterations): {T / peer[1]:6.1f} frames/s '
          f'({peer[2]:.0f} superpixels/frame, IoU {peer[3]:.3f}); '
          f'speed-up x{peer[1] / wall:.2f}')
    print(f'  ms/frame: {_breakdown(peer[0], T)}')
    f = _video(2)['frames'][0]
    for scale, it in ((1.0, 10), (0.5, 4)):
        t0 = time.perf_counter()
        for _ in range(10): superpixels(f, 400, scale=scale, max_num_iter=it)
        print(f'  SLIC alone, scale {scale}, {it} iterations: {100 * (time.perf_counter() - t0):.1f} ms/frame')


if __name__ == '__main__':
    main()
