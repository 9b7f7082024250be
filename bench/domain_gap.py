"""Where a decoder trained on video frames loses on still images: the world's domain gap, measured.

The built-in world draws its video frames in another style than its images (02_world): video backgrounds have
lower contrast and a tint (`video_contrast`, `video_tint`), and whole frames are blurred and noisy (`video_blur`,
`video_noise`). This script scores decoders on the world's test images (§3.4, classes from the encoder's scores,
mIoU over all classes and background) as they are and restyled into the video domain:

- `as is`: the test images;
- `video backgrounds`: the ground-truth background pixels of each image restyled like video backgrounds;
- `video blur + noise`: the whole image blurred and noised like a video frame;
- `both`.

A decoder trained on video frames that gains when the images look like video frames has learned the video style;
the ceiling (trained on the images themselves) shows what the restyling costs by itself. The restyled images use the
ground truth, so this is a diagnostic, never a way to segment. Prints, asserts nothing.

    python bench/domain_gap.py WORLD ENCODER.pt NAME=DECODER.pt [NAME=DECODER.pt ...] [--size 128] [--threads 2]
"""
import argparse, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np

MODES = ('as is', 'video backgrounds', 'video blur + noise', 'both')


def restyle(img, gt, mode, cfg, rng):
    "The image (H, W, 3) uint8 in the video style of world config `cfg`: backgrounds (gt == 0) and/or blur + noise."
    import cv2
    x = img.astype(np.float32) / 255
    if mode in ('video backgrounds', 'both'):
        bg = (gt == 0)[..., None]
        m = (x * bg).sum((0, 1), keepdims=True) / max(1, int(bg.sum()))
        x = np.where(bg, (m + cfg.video_contrast * (x - m)) * np.asarray(cfg.video_tint, np.float32), x)
    if mode in ('video blur + noise', 'both'):
        if cfg.video_blur > 0: x = cv2.GaussianBlur(x, (0, 0), cfg.video_blur)
        x = x + rng.normal(0, cfg.video_noise / 255, x.shape).astype(np.float32)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('world', help='a world folder (wsvseg-world)')
    ap.add_argument('encoder', help='encoder checkpoint')
    ap.add_argument('decoders', nargs='+', help='NAME=path/to/decoder.pt')
    ap.add_argument('--size', type=int, default=None, help="working size (default each decoder's)")
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from wsvseg.world import load_world_config
    from wsvseg.encoder import load_encoder
    from wsvseg.data import load_image_splits
    from wsvseg.decoder import load_decoder
    from wsvseg.segment import segment_image
    from wsvseg.evaluate import SegConfusion
    cfg = load_world_config(a.world)
    enc, _ = load_encoder(a.encoder)
    test = load_image_splits(a.world)['test']
    print(f'{len(test)} test images of {a.world}; mIoU (%) by how the images are styled')
    print(f"{'decoder':<28}" + ''.join(f'{m:>20}' for m in MODES))
    for spec in a.decoders:
        name, path = spec.split('=', 1) if '=' in spec else (Path(spec).parent.name, spec)
        dec, st = load_decoder(path, enc)
        size = a.size or st['options'].get('size')
        row = []
        for mode in MODES:
            rng, conf = np.random.default_rng(0), SegConfusion(test.vocab.C + 1)
            for i in range(len(test)):
                gt = test.label(i)
                conf.add(segment_image(enc, dec, restyle(test.image(i), gt, mode, cfg, rng), size=size), gt, test.ids[i])
            row.append(100 * conf.miou())
        print(f'{name:<28}' + ''.join(f'{v:>20.1f}' for v in row), flush=True)


if __name__ == '__main__':
    main()
