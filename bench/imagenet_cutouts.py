"""Are EfficientNet-Lite0's ImageNet weights really loaded? The pretrained classifier (wsvseg.encoder.imagenet_classifier,
with its ImageNet head) on the 51 Tux Paint photographs of VOC classes that the photo world uses, each cut out by its
alpha mask over mid-grey at 224² (wsvseg.encoder.cutout_on_grey). A hit: a top-1 / top-5 ImageNet class in the VOC
class's group (wsvseg.encoder.IMAGENET_GROUPS). Prints one line per photograph (its top 5, hits starred) and the hits
per class; asserts nothing.

    python bench/imagenet_cutouts.py [--root TUXPAINT_DIR] [--threads N] [--size S]
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wsvseg.encoder import IMAGENET_GROUPS, cutout_on_grey, imagenet_classifier, imagenet_topk
from wsvseg.photos import photo_catalogue, tuxpaint_root

def photo_list(root: Path) -> list:
    "[(VOC class, stamp name)] of every photograph of a VOC class in the photo world's catalogue (wsvseg.photos)."
    return [(c, n) for c, names in photo_catalogue(root).items() if c for n in names]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--root', type=Path, help="Tux Paint's data folder (holding stamps/); default: wsvseg.photos.tuxpaint_root()")
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--size', type=int, default=224)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = args.root or tuxpaint_root()
    stamps, photos = root/'stamps', photo_list(root)
    net = imagenet_classifier()
    t0 = time.perf_counter()
    top5 = imagenet_topk(net, np.stack([cutout_on_grey(stamps/f'{n}.png', args.size) for _, n in photos]))
    dt = time.perf_counter() - t0
    per = {c: [0, 0, 0] for c in dict(photos)}
    for (cls, name), t in zip(photos, top5.tolist()):
        group = set(IMAGENET_GROUPS[cls])
        per[cls][0] += 1; per[cls][1] += t[0] in group; per[cls][2] += bool(group & set(t))
        marks = ' '.join(f'{i}*' if i in group else str(i) for i in t)
        print(f'{cls:10s} {name.rsplit("/", 1)[-1]:24s} top5 {marks}')
    print(f'\n{"class":10s} {"photos":>6s} {"top-1":>6s} {"top-5":>6s}')
    for c, (n, h1, h5) in per.items(): print(f'{c:10s} {n:6d} {h1:6d} {h5:6d}')
    n, h1, h5 = (sum(v[i] for v in per.values()) for i in range(3))
    print(f'{"all":10s} {n:6d} {h1:6d} {h5:6d}   ({len(photos)} photographs at {args.size}², {dt:.1f} s, '
          f'{args.threads} threads)')


if __name__ == '__main__':
    main()
