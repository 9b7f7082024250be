"""Throughput of the decoder (wsvseg.decoder) and of §3.4 segmentation (wsvseg.segment) on this machine.

Decoder training: examples/s of Eq. 6 steps (frozen encoder maps, decoder forward, backward, Adam step) at the working
size, mini-batch 14, for both decoder inputs. Segmentation: images/s of `segment_image` on 128x96 images with two classes
(class scores, multi-scale attention, encoder maps, decoder, pixel-wise max), and of the thresholded-attention baseline for
comparison. Uses the small backbone (random weights: speed does not depend on them). Prints, asserts nothing.

    python bench/bench_decoder.py [--quick] [--threads N] [--size S]
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dataclasses import replace
from wsvseg.core import DecoderConfig, SegmentConfig, preset_config
from wsvseg.encoder import Encoder, multiscale_attention, normalize_attention
from wsvseg.decoder import INPUTS, build_decoder, decoder_forward, segmentation_loss
from wsvseg.segment import segment_image, attention_labels


def bench_train(enc, inputs, size, steps, batch=14, warm=1):
    torch.manual_seed(0)
    dec = build_decoder(enc, DecoderConfig(inputs=inputs))
    opt = torch.optim.Adam(dec.parameters(), 1e-3)
    x, a = torch.rand(batch, 3, size, size), torch.rand(batch, 1, size, size)
    t = (torch.rand(batch, size, size) > 0.8).to(torch.uint8)
    for i in range(warm + steps):
        if i == warm: t0 = time.perf_counter()
        loss = segmentation_loss(decoder_forward(dec, enc, x, a), t)
        opt.zero_grad(); loss.backward(); opt.step()
    return steps * batch / (time.perf_counter() - t0), dec.eval()


def bench_segment(enc, dec, size, n, warm=1):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (warm + n, 96, 128, 3), dtype=np.uint8)
    cfg = SegmentConfig()
    for i, im in enumerate(imgs):
        if i == warm: t0 = time.perf_counter()
        segment_image(enc, dec, im, cfg, classes=[0, 1], size=size)
    seg = n / (time.perf_counter() - t0)
    for i, im in enumerate(imgs):
        if i == warm: t0 = time.perf_counter()
        attention_labels(normalize_attention(multiscale_attention(enc, im, classes=[0, 1]))[0], [0, 1], 0.3)
    return seg, n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='fewer steps')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    ap.add_argument('--size', type=int, default=128, help='decoder working size (the world preset: 128)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    enc = Encoder(replace(preset_config('world').encoder, num_classes=5)).eval()
    steps, n = (2, 5) if a.quick else (6, 20)
    print(f'decoder bench: small backbone, working size {a.size}, {a.threads} thread(s), torch {torch.__version__}')
    for inputs in INPUTS:
        tr, dec = bench_train(enc, inputs, a.size, steps)
        seg, att = bench_segment(enc, dec, a.size, n)
        print(f'  {inputs:<20s} train {tr:7.1f} examples/s   segment {seg:6.1f} images/s (2 classes)   '
              f'thresholded attention {att:6.1f} images/s   segment/attention {seg / att:.2f}')


if __name__ == '__main__':
    main()
