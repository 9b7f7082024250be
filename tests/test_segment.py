"""wsvseg.segment: the background rule of §3.4, segmentation at the image's resolution, domain adaptation restricted to each
image's known labels (and resumable), the command-line drivers writing into the run folder, and bad inputs."""
import json
from pathlib import Path
import numpy as np
import pytest
import torch
from wsvseg.core import DecoderConfig, EncoderConfig, SegmentConfig, AdaptConfig, RunDir
from wsvseg.data import DataError, load_label_png, save_image
from wsvseg.encoder import Encoder, WeightsError, save_checkpoint, load_image_splits
from wsvseg.decoder import video_examples, train_decoder, Decoder, stage_channels
from wsvseg.segment import (label_from_probabilities, segment_image, pseudo_labels, adapt, attention_labels, ablation_bars, ROWS,
                            decoder_cli, segment_cli, adapt_cli, ceiling_cli, evaluate_segmentation, overlay)

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from wsvseg.world import WorldConfig, write_world
    d = tmp_path_factory.mktemp('seg')
    world = d/'world'
    write_world(WorldConfig.small(n_train=8, n_test=4, n_videos=2, frames=20), world, mp4=False)
    classes = list(json.loads((world/'world.json').read_text())['config']['classes'])
    torch.manual_seed(0)
    cfg = EncoderConfig(backbone='small', width_div=8, new_conv_channels=128, num_classes=len(classes), image_size=32, scales=(1.0,))
    enc = Encoder(cfg).eval()
    save_checkpoint(d/'encoder.pt', enc, None, 0, cfg, classes)
    ex = video_examples(world, world, classes, 32, limit=8)
    dec, _ = train_decoder(ex, enc, classes, d/'run', DecoderConfig(epochs=1, batch_size=4, width=8), device='cpu', progress=False)
    return dict(d=d, world=world, classes=classes, enc=enc, dec=dec, splits=load_image_splits(world))


def test_background_rule():
    P = torch.tensor([[[0.2, 0.5, 0.9, 0.49]], [[0.3, 0.1, 0.95, 0.0]]])
    assert label_from_probabilities(P, [1, 3]).tolist() == [[0, 2, 4, 0]]
    # background is decided by the threshold alone, whatever the number of classes
    assert label_from_probabilities(P[:1], [1], 0.5).tolist() == [[0, 2, 2, 0]]
    assert label_from_probabilities(torch.zeros(0, 1, 4), []).tolist() == [[0, 0, 0, 0]]
    assert attention_labels(P, [1, 3], 0.9).tolist() == [[0, 0, 4, 0]]


def test_no_class_passes_is_background(setup):
    img = setup['splits']['test'].image(0)
    lab = segment_image(setup['enc'], setup['dec'], img, SegmentConfig(class_threshold=1.1))
    assert lab.shape == img.shape[:2] and not lab.any()


def test_segment_full_resolution_and_given_classes(setup):
    img = np.random.default_rng(0).integers(0, 255, (45, 70, 3), dtype=np.uint8)
    lab = segment_image(setup['enc'], setup['dec'], img, SegmentConfig(background_threshold=0.0), classes=[2])
    assert lab.shape == (45, 70) and set(np.unique(lab)) == {3}


def test_pseudo_labels_restricted_to_known_labels(setup):
    tr = setup['splits']['train']
    maps = pseudo_labels(setup['enc'], setup['dec'], tr, SegmentConfig(background_threshold=0.0))
    for i, m in enumerate(maps):
        known = set((np.flatnonzero(tr.Y[i]) + 1).tolist())
        assert set(np.unique(m).tolist()) <= known | {0}
        assert m.shape == tr.image(i).shape[:2]


def test_adapt_rounds_resume(setup, tmp_path):
    s = setup
    dec, info = adapt(s['enc'], s['dec'], s['classes'], s['splits']['train'], tmp_path, AdaptConfig(rounds=2, epochs=1),
                      DecoderConfig(batch_size=4), device='cpu', progress=False)
    assert [i['round'] for i in info] == [1, 2]
    w1 = (tmp_path/'adapt'/'round1'/'decoder.pt').stat().st_mtime_ns
    dec2, info2 = adapt(s['enc'], s['dec'], s['classes'], s['splits']['train'], tmp_path, AdaptConfig(rounds=2, epochs=1),
                        DecoderConfig(batch_size=4), device='cpu', progress=False)
    assert (tmp_path/'adapt'/'round1'/'decoder.pt').stat().st_mtime_ns == w1
    for k, v in dec.state_dict().items(): assert torch.equal(v, dec2.state_dict()[k])


def test_clis_write_run_folder(setup, tmp_path):
    s = setup
    run = tmp_path/'run'
    m = decoder_cli(str(s['world']), str(s['world']), str(s['d']/'encoder.pt'), str(run), data=str(s['world']), epochs=1,
                    batch_size=4, size=32, width=8, device='cpu', progress=False)
    assert m['finished'] and 0 <= m['test']['miou'] <= 1 and 'threshold' in m['attention_baseline']
    assert json.loads((run/'decoder'/'metrics.json').read_text())['n_examples'] == m['n_examples']
    dec = str(run/'decoder'/'decoder.pt')
    m2 = segment_cli(str(s['world']/'images'/'JPEGImages'), str(s['d']/'encoder.pt'), dec, str(run))
    n = len(list((s['world']/'images'/'JPEGImages').glob('*.jpg')))
    assert m2['n_images'] == n and len(list((run/'segment'/'masks').glob('*.png'))) == n
    assert len(list((run/'segment'/'overlays').glob('*.jpg'))) == n
    assert (run/'segment'/'metrics.json').exists()
    m3 = segment_cli(str(s['world']), str(s['d']/'encoder.pt'), dec, str(tmp_path/'run2'))
    assert m3['n_images'] == len(s['splits']['test']) and 'miou' in m3['test']
    m4 = adapt_cli(str(s['world']), str(s['d']/'encoder.pt'), dec, str(run), rounds=1, epochs=1, device='cpu', progress=False)
    assert 'miou' in m4['test'] and (run/'adapt'/'metrics.json').exists() and RunDir(run).is_done('adapt')
    m5 = ceiling_cli(str(s['world']), str(s['d']/'encoder.pt'), str(tmp_path/'ceil'), epochs=1, size=32, width=8, device='cpu', progress=False)
    assert 'miou' in m5['test']


def test_cli_bad_inputs(setup, tmp_path):
    s = setup
    enc = str(s['d']/'encoder.pt')
    with pytest.raises(WeightsError, match='not a wsvseg decoder checkpoint'):
        segment_cli(str(s['world']/'images'/'JPEGImages'), enc, enc, str(tmp_path/'r'))
    with pytest.raises(WeightsError, match='encoder checkpoint'):
        segment_cli(str(s['world']/'images'/'JPEGImages'), str(s['d']/'run'/'decoder'/'decoder.pt'), str(s['d']/'run'/'decoder'/'decoder.pt'), str(tmp_path/'r'))
    (tmp_path/'empty').mkdir()
    with pytest.raises(DataError, match='no images'):
        segment_cli(str(tmp_path/'empty'), enc, str(s['d']/'run'/'decoder'/'decoder.pt'), str(tmp_path/'r'))
    (tmp_path/'nomasks'/'v').mkdir(parents=True)
    with pytest.raises(DataError, match='no masks'):
        decoder_cli(str(tmp_path/'nomasks'), str(s['world']), enc, str(tmp_path/'r'), device='cpu')


def test_ablation_bars():
    rows = {ROWS[0]: {'miou': 0.40}, ROWS[2]: {'miou': 0.55}, ROWS[3]: {'miou': 0.56}, ROWS[4]: {'miou': 0.65}}
    b = ablation_bars(rows)
    assert b['beats_baseline_by_10'] and b['reaches_80pct_of_ceiling'] and b['da_keeps_ground']
    assert not ablation_bars({**rows, ROWS[2]: {'miou': 0.45}})['beats_baseline_by_10']


def test_overlay_size_mismatch():
    with pytest.raises(ValueError, match='differ in size'): overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4), np.uint8))
