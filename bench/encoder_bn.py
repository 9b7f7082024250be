"""Is a trained encoder's test mAP held back by its batch-norm statistics? A diagnostic; asserts nothing.

Batch norm normalises by each mini-batch's statistics while training and by running averages (momentum 0.1) at test
time. If the weights still move fast in the last epochs (the paper's constant Adam rate), the averages lag them, and
the network scores worse in eval mode than it trained. This prints, for each encoder checkpoint:

- `test`: test mAP and per-class AP as trained (what `wsvseg-train-encoder` reports);
- `train split`: the same on the (un-augmented) training images: low too means the network is not what it trained;
- `BN recomputed`: test mAP after the running statistics are recomputed (exact averages) on the plain training images,
  by `encoder.recompute_encoder_bn`, what `EncoderConfig.precise_bn` does at the end of training.

A gain in the last line points at the statistics; none, with a low `train split`, at a network still on a plateau.

    python bench/encoder_bn.py WORLD ENCODER.pt [ENCODER.pt ...] [--threads 2]
"""
import argparse
from pathlib import Path

import torch


def show(name: str, m: dict) -> str:
    return f'{name:>14}: mAP {m["mAP"]:.3f}  AP ' + ', '.join(f'{k} {v:.3f}' for k, v in m['AP'].items())


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('world', type=Path, help='a world folder (e.g. runs/demo/world/data)')
    ap.add_argument('encoders', type=Path, nargs='+', help='encoder checkpoints (RUN/encoder/encoder.pt)')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from wsvseg.data import load_image_splits
    from wsvseg.encoder import evaluate_encoder, load_encoder, recompute_encoder_bn
    splits = load_image_splits(a.world)
    for path in a.encoders:
        enc, _ = load_encoder(path)
        print(path)
        print(show('test', evaluate_encoder(enc, splits['test'], attention=False)))
        print(show('train split', evaluate_encoder(enc, splits['train'], attention=False)))
        if enc.cfg.precise_bn: print('   (trained with precise_bn: its statistics were recomputed already)')
        recompute_encoder_bn(enc, splits['train'])
        print(show('BN recomputed', evaluate_encoder(enc, splits['test'], attention=False)))
