"""How usable the motion term's inside-outside maps are (§3.2, [27]) for each flow span k (`VideoSegConfig.motion_step`)
and boundary strength λ (`VideoSegConfig.boundary_lambda`), on the first 8 videos of a world preset (tuning videos of a
run: the first `LabelConfig.n_tune` are never scored). Prints, per (k, λ), the mean IoU of the map with the query
object over sampled frames where the object is present (an empty map counts 0) and how many maps were uninformative.

    python bench/motion_maps.py [world|photo ...]        # default: both presets
"""
import sys
import numpy as np
from wsvseg.core import preset_config
from wsvseg.world import generate_videos
from wsvseg.videoseg import optical_flow, motion_inside
from wsvseg.evaluate import binary_iou

def grid(preset: str, steps=(1, 2, 3, 5), lambdas=(0.5, 1.0), n_videos: int = 8, every: int = 3) -> list:
    "[(k, λ, mean IoU with the query object, uninformative maps, maps)] on the first `n_videos` of `preset`'s world."
    videos, out = list(generate_videos(preset_config(preset).world, 0, n_videos)), []
    for k in steps:
        for lam in lambdas:
            ious, dead, n = [], 0, 0
            for v in videos:
                for t in range(0, len(v.frames) - k, every):
                    io = motion_inside(optical_flow(v.frames[t], v.frames[t + k], 'fast'), lam_m=lam)   # DIS fast: cfg.flow 'dis'
                    n += 1; dead += io is None
                    if v.masks[t].any(): ious.append(0.0 if io is None else binary_iou(io, v.masks[t]))
            out.append((k, lam, float(np.mean(ious)), dead, n))
    return out

if __name__ == '__main__':
    for preset in sys.argv[1:] or ['world', 'photo']:
        print(f'{preset}: flow span k, boundary λ, IoU of the inside-outside map with the query object, uninformative maps')
        for k, lam, iou, dead, n in grid(preset): print(f'  k={k}  λ={lam:<4}  IoU {iou:.3f}  uninformative {dead}/{n}')
