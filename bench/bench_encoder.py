"""Throughput of the encoder (wsvseg.encoder) on this machine, for both backbones.

Training: images/s of Eq. 1 steps (augmentation of 320x240 uint8 images, resize to
`image_size`, forward, backward, Adam step), mini-batch as configured. Attention: frames/s of
`multiscale_attention` on 320x240 frames at the configured scales (0.75, 1, 1.5), all classes.
The full VGG-16 part runs only a few steps (it costs seconds per step on a CPU); `--quick`
shortens both. Prints, asserts nothing.

    python bench/bench_encoder.py [--quick] [--threads N]
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wsvseg.core import EncoderConfig, preset_config
from wsvseg.encoder import Encoder, augment, make_optimizer, classification_loss, multiscale_attention


def bench(cfg, steps, frames, warm=1):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (cfg.batch_size, 240, 320, 3), dtype=np.uint8)
    y = torch.from_numpy((rng.random((cfg.batch_size, cfg.num_classes)) < 0.3).astype(np.float32))
    torch.manual_seed(0)
    model = Encoder(cfg)
    opt = make_optimizer(model, cfg)
    for i in range(warm + steps):
        if i == warm: t0 = time.perf_counter()
        x = torch.stack([augment(im, rng, cfg.image_size) for im in imgs])
        loss = classification_loss(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    train = steps * cfg.batch_size / (time.perf_counter() - t0)
    vid = rng.integers(0, 256, (frames, 240, 320, 3), dtype=np.uint8)
    multiscale_attention(model, vid[:1])
    t0 = time.perf_counter()
    multiscale_attention(model, vid, batch_size=8)
    att = frames / (time.perf_counter() - t0)
    return train, att


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='fewer steps and frames')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    q = a.quick
    rows = [('vgg16', EncoderConfig(backbone='vgg16', num_classes=20), 1 if q else 2, 2 if q else 4),
            ('small', EncoderConfig(backbone='small', num_classes=20), 3 if q else 10, 8 if q else 32),
            ('small, world preset', replace_classes(preset_config('world').encoder, 5), 3 if q else 10, 8 if q else 32)]
    print(f'encoder throughput, torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu')
    print(f'{"backbone":<22}{"image_size":>11}{"batch":>6}{"scales":>18}{"train img/s":>13}{"attention fps (320x240)":>25}')
    for name, cfg, steps, frames in rows:
        tr, att = bench(cfg, steps, frames)
        print(f'{name:<22}{cfg.image_size:>11}{cfg.batch_size:>6}{str(tuple(cfg.scales)):>18}{tr:>13.2f}{att:>25.2f}', flush=True)


def replace_classes(cfg, C):
    from dataclasses import replace
    return replace(cfg, num_classes=C)


if __name__ == '__main__':
    main()
