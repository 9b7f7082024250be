"""Is a trained decoder held back by its batch-norm statistics? A diagnostic, like `encoder_bn.py`; asserts nothing.

The decoder f_dec (§3.3) has batch norm too and trains at the paper's constant rate (§5.1), so its running averages
may lag its last weights, as the encoder's did (`03_encoder`). For RUN/decoder/decoder.pt, trained on the run's video
masks, this prints the test mIoU of §3.4 (Table 1's 'decoder' row):

- `as trained`;
- `BN recomputed`: after `train.recompute_batchnorm` on the decoder's own training examples (the kept video frames,
  their masks' frames and cached attention, without the flips), the encoder left as it is.

    python bench/decoder_bn.py RUN [--threads 2]
"""
import argparse, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
import torch


class _Inputs(torch.nn.Module):
    "f_dec on (image, attention) stacked as 4 channels; the encoder is held outside the module tree (not re-normed)."
    def __init__(self, decoder, encoder):
        super().__init__()
        self.decoder, self._enc = decoder, (encoder,)
    def forward(self, xa):
        from wsvseg.decoder import decoder_forward
        return decoder_forward(self.decoder, self._enc[0], xa[:, :3], xa[:, 3:])


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run', type=Path, help='a run folder with encoder/, videoseg/masks and decoder/decoder.pt')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from wsvseg.core import RunDir, load_config
    from wsvseg.data import load_image_splits
    from wsvseg.decoder import attention_cache, load_decoder, video_examples
    from wsvseg.pipeline import frames_root, images_root, load_models
    from wsvseg.segment import evaluate_segmentation
    from wsvseg.train import recompute_batchnorm
    run = RunDir(a.run)
    cfg = load_config(a.run/'config.json')
    enc, classes, _, _ = load_models(a.run/'encoder'/'encoder.pt')
    dec, st = load_decoder(a.run/'decoder'/'decoder.pt', enc)
    S = int(st['options']['size'])
    ex = video_examples(a.run/'videoseg'/'masks', frames_root(run, cfg), classes, S)
    att = attention_cache(ex, enc, a.run/'decoder'/'attention.npz', encoder_path=a.run/'encoder'/'encoder.pt')
    test = load_image_splits(images_root(run, cfg), check_counts=cfg.inputs.check_counts)['test']
    print(f'{a.run}: decoder on {len(ex)} video frames, {S}², tested on {len(test)} images')
    show = lambda name, m: print(f"{name:>14}: mIoU {100 * m['miou']:.1f}  IoU " +
                                 ', '.join(f'{k} {100 * v:.1f}' for k, v in m['iou'].items()))
    show('as trained', evaluate_segmentation(enc, dec, test, size=S))
    bs = int(st['config']['batch_size'])
    batches = (torch.cat([torch.from_numpy(np.stack(ex.images[i:i + bs])).permute(0, 3, 1, 2).float() / 255,
                          torch.from_numpy(np.asarray(att[i:i + bs])).float()[:, None] / 255], 1)
               for i in range(0, len(ex), bs))
    recompute_batchnorm(_Inputs(dec, enc), batches)
    show('BN recomputed', evaluate_segmentation(enc, dec.eval(), test, size=S))
