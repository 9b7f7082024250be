"""Is a trained encoder's test mAP held back by its batch-norm statistics? A diagnostic; asserts nothing.

Batch norm normalises by each mini-batch's statistics while training and by running averages (momentum 0.1) at test
time. If the weights still move fast in the last epochs (the paper's constant Adam rate), the averages lag them, and
the network scores worse in eval mode than it trained. This prints, for each encoder checkpoint:

- `test`: test mAP and per-class AP as trained (what `wsvseg-train-encoder` reports);
- `train split`: the same on the (un-augmented) training images: low too means the network is not what it trained;
- `BN recomputed`: test mAP after the running statistics are recomputed (exact averages) on the plain training images.

A gain in the last line points at the statistics; none, with a low `train split`, at a network still on a plateau.

    python bench/encoder_bn.py WORLD ENCODER.pt [ENCODER.pt ...] [--threads 2]
"""
import argparse
from pathlib import Path

import numpy as np
import torch


def show(name: str, m: dict) -> str:
    return f'{name:>14}: mAP {m["mAP"]:.3f}  AP ' + ', '.join(f'{k} {v:.3f}' for k, v in m['AP'].items())


@torch.no_grad()
def recompute_bn(enc, images, size: int, batch: int = 50):
    "Running statistics of every BatchNorm2d of `enc` set to their exact averages over `images` (an ImageSet)."
    from wsvseg.encoder import as_batch, resize_batch
    for mod in enc.modules():
        if isinstance(mod, torch.nn.BatchNorm2d): mod.reset_running_stats(); mod.momentum = None
    enc.train()
    for i in range(0, len(images), batch):
        enc(resize_batch(as_batch(np.stack([images.image(j) for j in range(i, min(len(images), i + batch))])), size))
    return enc.eval()


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('world', type=Path, help='a world folder (e.g. runs/demo/world/data)')
    ap.add_argument('encoders', type=Path, nargs='+', help='encoder checkpoints (RUN/encoder/encoder.pt)')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from wsvseg.data import load_image_splits
    from wsvseg.encoder import evaluate_encoder, load_checkpoint, load_encoder
    splits = load_image_splits(a.world)
    for path in a.encoders:
        enc, _ = load_encoder(path)
        print(path)
        print(show('test', evaluate_encoder(enc, splits['test'], attention=False)))
        print(show('train split', evaluate_encoder(enc, splits['train'], attention=False)))
        size = int(load_checkpoint(path)['config']['image_size'])
        recompute_bn(enc, splits['train'], size)
        print(show('BN recomputed', evaluate_encoder(enc, splits['test'], attention=False)))
