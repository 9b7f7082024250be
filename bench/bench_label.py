"""Throughput of whole-video labelling (wsvseg.label.label_videos): frames/s with and without the network.

World videos (a world folder given, or a small world written to a temporary folder) are labelled from
scratch into a temporary run folder with 1 and then 2 worker processes, the encoder on `--device`
('auto': the GPU when there is one):
1. with the network, default: `label_videos` end to end, each worker a whole video (frames streamed:
   encoder class scores of every frame, filter, multi-scale attention of the relevant frames, graph cut
   per window of the relevant intervals, masks + attention + JSON written atomically); frames/s = all
   frames of the videos / wall time, worker start-up and checkpoint loading included;
2. with the network, split (`split=True`): the encoder in this process on the device (scores, filter,
   attention), the graph cuts in the worker processes, the producer going on while they cut;
3. without the network: the same videos again from the stored scores and attention (read frames, graph
   cut per window, masks written), in a pool of the same size: frames/s over all frames, and over the
   frames actually segmented (kept by the filter).
The checkpoint: an encoder trained on the world (`--checkpoint`), or, without one, an untrained small
encoder of the world preset's shape whose bias keeps every frame (the network then costs what it costs,
and every frame is segmented: the worst case). Prints, asserts nothing.

    python bench/bench_label.py [--world W] [--checkpoint ENC.pt] [--videos 8] [--workers 1 2] [--device auto]
"""
import argparse, json, os, shutil, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import multiprocessing as mp

os.environ.setdefault('OMP_NUM_THREADS', '1')
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np


def _segment_only(args):
    "Worker: graph cut of one labelled video from its stored attention, masks written to a scratch folder."
    src, out, scratch, cfg = args
    import cv2
    cv2.setNumThreads(1)
    from wsvseg.label import read_frames, dequantise_attention, relevant_windows
    from wsvseg.videoseg import segment_video
    from wsvseg.data import read_record, save_label_png, video_paths
    t0 = time.perf_counter()
    rec = read_record(out, src.name)
    frames, names = read_frames(src, cfg.videoseg.max_side)
    kept = 0
    if rec['intervals']:
        z = np.load(video_paths(out, src.name)['attention'])
        att = np.zeros(frames.shape[:3], np.float32)
        att[z['frames']] = dequantise_attention(z['attention'], float(z['scale']))
        for a, b in relevant_windows(rec['intervals'], cfg.max_frames):
            m = segment_video(frames[a:b], att[a:b], cfg.videoseg).masks
            for t in range(a, b): save_label_png(Path(scratch)/src.name/f'{names[t]}.png', m[t - a])
            kept += b - a
    return len(frames), kept, time.perf_counter() - t0


def _warm(_):
    import wsvseg.label, wsvseg.videoseg  # noqa: F401
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--world', default=None, help='a world folder (default: write a small one with --videos videos)')
    ap.add_argument('--checkpoint', default=None,
                    help='encoder checkpoint (default: an untrained small encoder that keeps every frame)')
    ap.add_argument('--videos', type=int, default=8)
    ap.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--device', default='auto', help="the encoder's device: 'auto', 'cpu', 'cuda' (default auto)")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from dataclasses import replace
    from wsvseg.core import LabelConfig, WorldConfig, preset_config
    from wsvseg.data import list_videos, load_image
    from wsvseg.world import write_world
    from wsvseg.encoder import build_encoder, save_checkpoint
    from wsvseg.label import label_videos
    tmp = Path(tempfile.mkdtemp(prefix='bench-label-'))
    try:
        world = a.world
        if world is None:
            world = tmp/'world'
            write_world(WorldConfig(n_train=2, n_test=2, n_videos=a.videos), world, mp4=False)
        ck = a.checkpoint
        if ck is None:
            from wsvseg.world import load_world_config
            classes = load_world_config(world).classes
            torch.manual_seed(0)
            enc = build_encoder(replace(preset_config('world').encoder, num_classes=len(classes)))
            with torch.no_grad(): enc.fc.bias[:] = 10.0
            ck = save_checkpoint(tmp/'untrained.pt', enc, None, 0, enc.cfg, classes)
        _, srcs = list_videos(world)
        srcs = srcs[:a.videos]
        cfg = LabelConfig()
        T = sum(len(s.frame_paths) for s in srcs)
        h, w = np.asarray(load_image(srcs[0].frame_paths[0])).shape[:2]
        which = 'untrained' if a.checkpoint is None else ck
        print(f'whole-video labelling: {len(srcs)} world videos, {T} frames of {w}x{h}, checkpoint {which}, '
              f'device {a.device}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}')
        for nw in a.workers:
            for split in (False, True):
                run = tmp/f'run{nw}{"-split" if split else ""}'
                s = label_videos(srcs, ck, run, cfg, workers=nw, device=a.device, split=split)
                recs = [json.loads(p.read_text()) for p in (run/'videoseg'/'videos').glob('*.json')]
                kept = sum(r['n_kept'] for r in recs)
                net = sum(r['timings'].get('scores', 0) + r['timings'].get('attention', 0) for r in recs)
                tot = sum(r['seconds'] for r in recs)
                how = f'split, encoder on {s["device"]}' if split else f'default, encoder on {s["device"]}'
                print(f'{nw} worker(s), with network ({how}): {T / s["wall_s"]:6.1f} frames/s ({T} frames, '
                      f'{kept} kept, wall {s["wall_s"]:.1f} s incl. start-up; network '
                      f'{100 * net / max(tot, 1e-9):.0f}% of the labelling time)')
            run = tmp/f'run{nw}'
            with ProcessPoolExecutor(nw, mp_context=mp.get_context('spawn')) as ex:
                list(ex.map(_warm, range(nw)))
                t0 = time.perf_counter()
                outs = list(ex.map(_segment_only, [(src, run/'videoseg', tmp/f'scratch{nw}', cfg) for src in srcs]))
                wall = time.perf_counter() - t0
            n, k = sum(o[0] for o in outs), sum(o[1] for o in outs)
            print(f'{nw} worker(s), without network: {n / wall:6.1f} frames/s over all frames, '
                  f'{k / wall:6.1f} over the {k} segmented frames (wall {wall:.1f} s)')
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
