"""Generation speed of the built-in world (`wsvseg.world`): images/s and videos/s in memory for the small and benchmark
presets, the projected time to generate each whole preset, and the measured time to write the small preset to disk
(JPEG + palette PNG + XML + mp4). `--full` also writes the whole benchmark preset. Prints; asserts nothing."""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wsvseg.core import WorldConfig, preset_config
from wsvseg.world import make_image, make_video, world_rng, write_world

PRESETS = {'small': WorldConfig(), 'benchmark': preset_config('world-benchmark').world}   # the world's two sizes


def rate(cfg, n_images, n_videos):
    t = time.perf_counter()
    for i in range(n_images): make_image(cfg, world_rng(cfg, 'train', i))
    ti = (time.perf_counter() - t) / n_images
    t = time.perf_counter()
    for i in range(n_videos): make_video(cfg, world_rng(cfg, 'videos', i), i % cfg.C + 1)
    tv = (time.perf_counter() - t) / n_videos
    return ti, tv


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--quick', action='store_true', help='fewer samples')
    ap.add_argument('--full', action='store_true', help='also write the whole benchmark preset to a temporary folder')
    a = ap.parse_args()
    ni, nv = (30, 3) if a.quick else (200, 10)
    print(f'world generation on {os.cpu_count()} CPU(s), one process')
    for name in ('small', 'benchmark'):
        cfg = PRESETS[name]
        ti, tv = rate(cfg, ni, nv)
        total = ti * (cfg.n_train + cfg.n_test) + tv * cfg.n_videos
        print(f'{name:9s} {cfg.size[0]}x{cfg.size[1]}: {1 / ti:7.1f} images/s, {1 / tv:6.2f} videos/s '
              f'({cfg.frames * 1 / tv:6.1f} frames/s); '
              f'whole preset ({cfg.n_train}+{cfg.n_test} images, {cfg.n_videos} videos) in memory ~{total:5.1f} s')
    for name in ('small',) + (('benchmark',) if a.full else ()):
        root = Path(tempfile.mkdtemp())/'world'
        t = time.perf_counter()
        write_world(PRESETS[name], root)
        dt = time.perf_counter() - t
        n = sum(1 for _ in root.rglob('*') if _.is_file())
        mb = sum(p.stat().st_size for p in root.rglob('*') if p.is_file()) / 1e6
        print(f'{name:9s} written to disk (with mp4s): {dt:5.1f} s, {n} files, {mb:.1f} MB')
        shutil.rmtree(root.parent)


if __name__ == '__main__': main()
