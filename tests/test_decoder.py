"""wsvseg.decoder: shapes for both inputs and both upsampling layers, Eq. 6 loss, resumable training (an interrupted run
ends where an uninterrupted one does), checkpoints of the wrong kind, bad mask folders, and the attention cache (keyed
on the full content of the checkpoint file and the frame files; rebuilt with a warning when unreadable); encoder_stages
on VGG (the same maps as the hooks it replaced) and on EfficientNet-Lite0 (a decoder builds, trains, saves, loads)."""
import json, shutil, warnings
from dataclasses import replace
from pathlib import Path
import numpy as np
import pytest
import torch
from wsvseg.core import DecoderConfig, EncoderConfig
from wsvseg.data import DataError, save_label_png, load_label_png, save_image, load_image, find_mask_folder
from wsvseg.train import WeightsError
from wsvseg.encoder import Encoder, save_checkpoint
from wsvseg.decoder import (INPUTS, Decoder, encoder_stages, stage_channels, segmentation_loss, video_examples, image_examples,
                            train_decoder, load_decoder, read_decoder_checkpoint, foreground_probability, SegExamples,
                            working_size, attention_cache)

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    from wsvseg.core import WorldConfig
    from wsvseg.world import write_world
    root = tmp_path_factory.mktemp('w')/'world'
    write_world(WorldConfig(n_train=8, n_test=4, n_videos=2, frames=20), root, mp4=False)
    return root


@pytest.fixture(scope='module')
def classes(world): return list(json.loads((world/'world.json').read_text())['config']['classes'])


@pytest.fixture(scope='module')
def enc(classes):
    torch.manual_seed(0)
    cfg = EncoderConfig(backbone='small', width_div=8, new_conv_channels=128, num_classes=len(classes), image_size=32, scales=(1.0,))
    return Encoder(cfg).eval()


@pytest.fixture(scope='module')
def examples(world, classes): return video_examples(world, world, classes, 32, limit=10)


@pytest.mark.parametrize('inputs', INPUTS)
@pytest.mark.parametrize('upsample', ['deconv', 'unpool'])
def test_shapes_and_gradient(enc, inputs, upsample):
    d = Decoder(inputs, stage_channels(enc), 8, upsample)
    x, a = torch.rand(3, 3, 48, 48), torch.rand(3, 1, 48, 48)
    st = encoder_stages(enc, x) if inputs != 'attention' else None
    y = d(a, st)
    assert y.shape == (3, 1, 48, 48)
    segmentation_loss(y, (torch.rand(3, 48, 48) > 0.5).to(torch.uint8)).backward()
    assert all(p.grad is not None for p in d.parameters())


def test_attention_only_ignores_image(enc):
    "The attention-only decoder cannot see the image: two images with the same attention give the same output."
    d = Decoder('attention', stage_channels(enc), 8).eval()
    a = torch.rand(1, 1, 32, 32)
    assert torch.equal(d(a), d(a.clone()))
    f = Decoder('attention+features', stage_channels(enc), 8).eval()
    x1, x2 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad(): assert not torch.allclose(f(a, encoder_stages(enc, x1)), f(a, encoder_stages(enc, x2)))


def test_loss_ignores_void():
    logits = torch.tensor([[[[5.0, -5.0]]]])
    t_void = torch.tensor([[[1, 255]]], dtype=torch.uint8)
    assert float(segmentation_loss(logits, t_void)) == pytest.approx(float(torch.nn.functional.softplus(torch.tensor(-5.0))), abs=1e-6)
    assert float(segmentation_loss(logits, torch.full((1, 1, 2), 255, dtype=torch.uint8))) == 0.0


def test_foreground_full_resolution(enc, world, examples, tmp_path):
    d = Decoder('attention+features', stage_channels(enc), 8)
    img = np.zeros((37, 53, 3), np.uint8)
    p = foreground_probability(enc, d, img, [0, 1, 2], size=32)
    assert p.shape == (3, 37, 53) and float(p.min()) >= 0 and float(p.max()) <= 1
    assert foreground_probability(enc, d, img, [], size=32).shape == (0, 37, 53)


def test_working_size(enc):
    assert working_size(enc) == 32 and working_size(enc, 100) == 112
    with pytest.raises(ValueError, match='below 16'): working_size(enc, 8)


def test_resume_matches_uninterrupted(enc, examples, classes, tmp_path):
    cfg = DecoderConfig(epochs=3, batch_size=4, width=8)
    a, ha = train_decoder(examples, enc, classes, tmp_path/'a', cfg, device='cpu', progress=False)
    _, h1 = train_decoder(examples, enc, classes, tmp_path/'b', cfg, device='cpu', progress=False, until_epoch=1)
    assert len(h1['train_loss']) == 1 and (tmp_path/'b'/'decoder'/'checkpoint.pt').exists()
    assert not (tmp_path/'b'/'decoder'/'decoder.pt').exists()
    b, hb = train_decoder(examples, enc, classes, tmp_path/'b', cfg, device='cpu', progress=False)
    assert np.allclose(ha['train_loss'], hb['train_loss'], atol=1e-5)
    for k, v in a.state_dict().items(): assert torch.allclose(v.float(), b.state_dict()[k].float(), atol=1e-5), k
    # extending the epochs resumes from decoder.pt
    c, hc = train_decoder(examples, enc, classes, tmp_path/'b', replace(cfg, epochs=4), device='cpu', progress=False)
    assert len(hc['train_loss']) == 4 and read_decoder_checkpoint(tmp_path/'b'/'decoder'/'decoder.pt')['epoch'] == 4


def test_resume_refuses_other_config(enc, examples, classes, tmp_path):
    cfg = DecoderConfig(epochs=2, batch_size=4, width=8)
    train_decoder(examples, enc, classes, tmp_path, cfg, device='cpu', progress=False, until_epoch=1)
    with pytest.raises(ValueError, match='different configuration'):
        train_decoder(examples, enc, classes, tmp_path, replace(cfg, inputs='attention'), device='cpu')
    with pytest.raises(ValueError, match=r"different configuration keys \['width'\]"):
        train_decoder(examples, enc, classes, tmp_path, replace(cfg, width=16), device='cpu')
    with pytest.raises(ValueError, match='different options'):
        fewer = SegExamples(examples.images[:5], examples.classes[:5], examples.targets[:5], examples.names[:5])
        train_decoder(fewer, enc, classes, tmp_path, cfg, device='cpu')
    with pytest.raises(ValueError, match='asks for working size 64'):
        train_decoder(examples, enc, classes, tmp_path/'other', replace(cfg, size=64), device='cpu')


def test_wrong_checkpoints(enc, examples, classes, tmp_path):
    save_checkpoint(tmp_path/'encoder.pt', enc, None, 0, enc.cfg, classes)
    with pytest.raises(WeightsError, match='not a wsvseg decoder checkpoint.*wsvseg.encoder'): load_decoder(tmp_path/'encoder.pt')
    torch.save({'conv.weight': torch.zeros(3)}, tmp_path/'state.pt')
    with pytest.raises(WeightsError, match='state.pt: not a wsvseg decoder'): load_decoder(tmp_path/'state.pt')
    (tmp_path/'text.pt').write_text('no')
    with pytest.raises(WeightsError, match='text.pt'): load_decoder(tmp_path/'text.pt')
    with pytest.raises(WeightsError, match='not found'): load_decoder(tmp_path/'missing.pt')
    train_decoder(examples, enc, classes, tmp_path/'r', DecoderConfig(epochs=1, batch_size=4, width=8), device='cpu', progress=False)
    other = Encoder(replace(enc.cfg, width_div=4))
    with pytest.raises(WeightsError, match='stage channels'): load_decoder(tmp_path/'r'/'decoder'/'decoder.pt', other)
    d, st = load_decoder(tmp_path/'r'/'decoder'/'decoder.pt', enc)
    assert st['classes'] == classes and not d.training


def test_mask_folder_layouts(world, classes, tmp_path):
    "The world's DAVIS layout, and a labeller-style run folder (videoseg/masks/<video>/<frame>.png + records)."
    a = video_examples(world, world, classes, 32, limit=5)
    src = world/'videos'/'Annotations'/'480p'
    run = tmp_path/'run'
    for p in sorted(src.rglob('*.png'))[:5]:
        q = run/'videoseg'/'masks'/p.parent.name/p.name
        q.parent.mkdir(parents=True, exist_ok=True); shutil.copy(p, q)
    assert find_mask_folder(run) == run/'videoseg'/'masks'
    b = video_examples(run, world, classes, 32)
    assert b.names == a.names and np.array_equal(a.targets, b.targets)


def test_no_masks(world, classes, tmp_path):
    (tmp_path/'masks'/'aeroplane-000').mkdir(parents=True)
    with pytest.raises(DataError, match='no masks'): video_examples(tmp_path/'masks', world, classes, 32)
    with pytest.raises(DataError, match='not found'): video_examples(tmp_path/'nowhere', world, classes, 32)


def test_masks_of_wrong_size(world, classes, tmp_path):
    v = sorted((world/'videos'/'Annotations'/'480p').iterdir())[0]
    save_label_png(tmp_path/'m'/v.name/'00000.png', np.zeros((10, 40), np.uint8))
    with pytest.raises(DataError, match='does not fit frame'): video_examples(tmp_path/'m', world, classes, 32)
    # the same aspect ratio at another scale is accepted (the labeller shrinks large frames)
    h, w = load_label_png(next(v.glob('*.png'))).shape
    save_label_png(tmp_path/'s'/v.name/'00000.png', np.ones((h // 2, w // 2), np.uint8))
    assert len(video_examples(tmp_path/'s', world, classes, 32)) == 1


def test_mask_without_class_or_frame(world, classes, tmp_path):
    save_label_png(tmp_path/'m'/'unknown-video'/'00000.png', np.zeros((96, 128), np.uint8))
    with pytest.raises(DataError, match='none of the 1 masks'): video_examples(tmp_path/'m', world, classes, 32)
    v = sorted((world/'videos'/'Annotations'/'480p').iterdir())[0]
    save_label_png(tmp_path/'f'/v.name/'99999.png', np.zeros((96, 128), np.uint8))
    with pytest.raises(DataError, match='no frame 99999'): video_examples(tmp_path/'f', world, classes, 32)


def test_image_examples_targets(world):
    from wsvseg.data import load_image_splits
    tr = load_image_splits(world)['train']
    ex = image_examples(tr, 32)
    assert len(ex) == int(tr.Y.sum())
    lab, c = tr.label(0), int(ex.classes[0])
    assert ex.targets[0].max() <= 255 and ((ex.targets[0] == 1).any() == ((lab == c + 1).any()))


def test_examples_validation():
    with pytest.raises(ValueError, match='2 images, 1 classes'):
        SegExamples(np.zeros((2, 8, 8, 3)), [0], np.zeros((2, 8, 8)), ['a', 'b'])



def test_attention_cache_key_covers_checkpoint_and_frames(world, enc, classes, tmp_path):
    "A changed frame file or a changed checkpoint file gives a new cache; the same inputs read the cache back."
    frames = tmp_path/'frames'
    shutil.copytree(world/'videos'/'JPEGImages', frames/'JPEGImages'); shutil.copy(world/'videos'/'labels.json', frames)
    ex = video_examples(world, frames, classes, 32, limit=4)
    assert len(ex.sources) == 4 and all(str(frames) in s for s in ex.sources)
    ck, cache = save_checkpoint(tmp_path/'enc.pt', enc, None, 0, enc.cfg, classes), tmp_path/'att.npz'
    a = attention_cache(ex, enc, cache, encoder_path=ck)
    key = lambda: str(np.load(cache)['key'])
    k1, t1 = key(), cache.stat().st_mtime_ns
    attention_cache(ex, enc, cache, encoder_path=ck)
    assert cache.stat().st_mtime_ns == t1                                             # read back, not rewritten
    img = load_image(ex.sources[2]); img[0, 0] = 255 - img[0, 0]; save_image(ex.sources[2], img)   # one frame changes
    b = attention_cache(ex, enc, cache, encoder_path=ck)
    k2 = key()
    save_checkpoint(ck, enc, None, 1, enc.cfg, classes)                               # the checkpoint file changes
    attention_cache(ex, enc, cache, encoder_path=ck)
    assert len({k1, k2, key()}) == 3 and np.array_equal(a, b)                          # same pixels in memory, new keys


def test_unreadable_attention_cache_is_rebuilt_with_a_warning(examples, enc, tmp_path):
    cache = tmp_path/'att.npz'
    a = attention_cache(examples, enc, cache)
    for bad in (cache.read_bytes()[:200], b'not a cache'):
        cache.write_bytes(bad)
        with pytest.warns(UserWarning, match=r'att.npz: attention cache could not be read .*rebuilding it'):
            b = attention_cache(examples, enc, cache)
        assert np.array_equal(a, b)
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            assert np.array_equal(attention_cache(examples, enc, cache), a)           # rebuilt: readable again


def test_training_writes_no_metrics_files(enc, examples, classes, tmp_path):
    train_decoder(examples, enc, classes, tmp_path, DecoderConfig(epochs=1, batch_size=4, width=8), device='cpu',
                  progress=False, encoder_path=save_checkpoint(tmp_path/'enc.pt', enc, None, 0, enc.cfg, classes))
    assert sorted(p.name for p in (tmp_path/'decoder').iterdir()) == ['attention.npz', 'decoder.pt']


DDP_SCRIPT = '''
import os, sys, torch
torch.set_num_threads(1)
from wsvseg.core import DecoderConfig
from wsvseg.encoder import load_encoder
from wsvseg.decoder import video_examples, train_decoder
world, enc_path, out = sys.argv[1:4]
enc, classes = load_encoder(enc_path)
ex = video_examples(world, world, classes, 32, limit=8)
model, hist = train_decoder(ex, enc, classes, out, DecoderConfig(epochs=2, batch_size=4, width=8), device='cpu', progress=False)
torch.save(model.state_dict(), os.path.join(out, f"rank{os.environ['RANK']}.pt"))
'''


def test_ddp_two_cpu_processes(world, enc, classes, tmp_path):
    "torchrun with 2 processes on gloo: the ranks end with the same parameters, and rank 0 wrote its model into decoder.pt."
    import os, subprocess, sys
    save_checkpoint(tmp_path/'encoder.pt', enc, None, 0, enc.cfg, classes)
    script = tmp_path/'ddp_decoder.py'
    script.write_text(DDP_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(root) + os.pathsep + os.environ.get('PYTHONPATH', '')}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(script), str(world),
           str(tmp_path/'encoder.pt'), str(tmp_path/'run')]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    r0, r1 = (torch.load(tmp_path/'run'/f'rank{i}.pt', weights_only=True) for i in (0, 1))
    params = {k for k, _ in Decoder('attention+features', stage_channels(enc), 8).named_parameters()}
    for k in params: assert torch.allclose(r0[k], r1[k], atol=1e-6), k     # batch-norm statistics stay per process, as in DDP
    st = read_decoder_checkpoint(tmp_path/'run'/'decoder'/'decoder.pt')
    assert st['epoch'] == 2 and len(st['history']['train_loss']) == 2
    for k in r0: assert torch.equal(st['model'][k], r0[k]), k


# ---------------------------------------------------------------- encoder stages of every backbone
def hooked_stages(encoder, x):
    "What encoder_stages returned before Encoder.stages: VGG's max-pooling inputs (forward hooks), then F(x)."
    pools = [p for p in encoder.features.modules() if isinstance(p, torch.nn.MaxPool2d)]
    got = []
    hooks = [p.register_forward_hook(lambda mod, inp, out: got.append(inp[0])) for p in pools]
    try: top = encoder.feature_map(x)
    finally:
        for h in hooks: h.remove()
    return got + [top]


@pytest.mark.parametrize('cfg', [EncoderConfig(backbone='small', width_div=8, batchnorm=True, image_size=160),
                                 EncoderConfig(backbone='small', width_div=16, new_conv_channels=128),
                                 EncoderConfig(new_conv_channels=64)])
def test_vgg_stages_are_the_pooling_inputs(cfg):
    "VGG's maps are what the hooks on its max-pooling layers gave, to the bit (the demo's decoder inputs do not move)."
    torch.manual_seed(0)
    m = Encoder(replace(cfg, num_classes=3)).eval()
    x = torch.rand(2, 3, 48, 64)
    with torch.no_grad(): new, old = encoder_stages(m, x), hooked_stages(m, x)
    assert [s.shape for s in new] == [s.shape for s in old] and all(torch.equal(a, b) for a, b in zip(new, old))


@pytest.fixture(scope='module')
def eff_enc(classes):
    torch.manual_seed(0)
    cfg = EncoderConfig(backbone='efficientnet-lite0', pretrained='package', new_conv_channels=32,
                        num_classes=len(classes), image_size=32, scales=(1.0,), frozen_stages=4)
    from wsvseg.encoder import build_encoder
    return build_encoder(cfg).eval()


def test_efficientnet_stages(eff_enc):
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad(): st = encoder_stages(eff_enc, x)
    assert [tuple(s.shape[1:]) for s in st] == [(3, 48, 48), (16, 24, 24), (24, 12, 12), (40, 6, 6), (32, 3, 3)]
    assert stage_channels(eff_enc) == [3, 16, 24, 40, 32] and not eff_enc.training
    torch.testing.assert_close(st[0], (x * 255 - 127) / 128)                # the normalised input at full resolution
    torch.testing.assert_close(st[-1], eff_enc.feature_map(x))


@pytest.mark.parametrize('upsample', ['deconv', 'unpool'])
def test_decoder_on_efficientnet_forward_backward(eff_enc, upsample):
    d = Decoder('attention+features', stage_channels(eff_enc), 8, upsample)
    x, a = torch.rand(3, 3, 48, 48), torch.rand(3, 1, 48, 48)
    y = d(a, encoder_stages(eff_enc, x))
    assert y.shape == (3, 1, 48, 48)
    segmentation_loss(y, (torch.rand(3, 48, 48) > 0.5).to(torch.uint8)).backward()
    assert all(p.grad is not None for p in d.parameters())


def test_decoder_on_efficientnet_trains_saves_loads(eff_enc, enc, examples, classes, tmp_path):
    cfg = DecoderConfig(epochs=1, batch_size=4, width=8)
    d, h = train_decoder(examples, eff_enc, classes, tmp_path, cfg, device='cpu', progress=False)
    assert len(h['train_loss']) == 1 and np.isfinite(h['train_loss'][0])
    path = tmp_path/'decoder'/'decoder.pt'
    assert read_decoder_checkpoint(path)['channels'] == [3, 16, 24, 40, 32]
    back, _ = load_decoder(path, eff_enc)
    for k, v in d.state_dict().items(): assert torch.equal(v, back.state_dict()[k]), k
    with pytest.raises(WeightsError, match=r'stage channels \[3, 16, 24, 40, 32\], this encoder has \[8, 16'):
        load_decoder(path, enc)
    p = foreground_probability(eff_enc, back, np.zeros((37, 53, 3), np.uint8), [0, 2], size=32)
    assert p.shape == (2, 37, 53) and 0 <= float(p.min()) <= float(p.max()) <= 1
