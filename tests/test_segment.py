"""wsvseg.segment: the background rule of §3.4, segmentation at the image's resolution, domain adaptation restricted
to each image's known labels (and resumable), a folder segmented image by image with bad images skipped and listed."""
import json
import numpy as np
import pytest
import torch
from wsvseg.core import AdaptConfig, DecoderConfig, EncoderConfig, EvalConfig, SegmentConfig, WorldConfig
from wsvseg.data import DataError, load_image_splits, load_label_png
from wsvseg.encoder import Encoder, save_checkpoint
from wsvseg.decoder import video_examples, train_decoder
from wsvseg.segment import (label_from_probabilities, segment_image, pseudo_labels, adapt, attention_labels,
                            attention_baseline, evaluate_segmentation, overlay, segment_folder)

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from wsvseg.world import write_world
    d = tmp_path_factory.mktemp('seg')
    world = d/'world'
    write_world(WorldConfig(n_train=8, n_test=4, n_videos=2, frames=20), world, mp4=False)
    classes = list(json.loads((world/'world.json').read_text())['config']['classes'])
    torch.manual_seed(0)
    cfg = EncoderConfig(backbone='small', width_div=8, new_conv_channels=128, num_classes=len(classes), image_size=32,
                        scales=(1.0,))
    enc = Encoder(cfg).eval()
    save_checkpoint(d/'encoder.pt', enc, None, 0, cfg, classes)
    ex = video_examples(world, world, classes, 32, limit=8)
    dec, _ = train_decoder(ex, enc, classes, d/'run', DecoderConfig(epochs=1, batch_size=4, width=8), device='cpu',
                           progress=False)
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
    assert not (tmp_path/'adapt'/'metrics.json').exists()                 # the runner writes the metrics
    assert [i['round'] for i in info] == [1, 2]
    w1 = (tmp_path/'adapt'/'round1'/'decoder.pt').stat().st_mtime_ns
    dec2, info2 = adapt(s['enc'], s['dec'], s['classes'], s['splits']['train'], tmp_path,
                        AdaptConfig(rounds=2, epochs=1), DecoderConfig(batch_size=4), device='cpu', progress=False)
    assert (tmp_path/'adapt'/'round1'/'decoder.pt').stat().st_mtime_ns == w1
    for k, v in dec.state_dict().items(): assert torch.equal(v, dec2.state_dict()[k])


def test_segment_folder_degrades_per_image(setup, tmp_path):
    "A bad image is recorded with its reason and skipped; the images after it are segmented, finished ones kept."
    s = setup
    src = tmp_path/'imgs'; src.mkdir()
    jpgs = sorted((s['world']/'images'/'JPEGImages').glob('*.jpg'))[:6]
    for k, p in enumerate(jpgs): (src/f'{k}.jpg').write_bytes(p.read_bytes())
    (src/'2.jpg').write_bytes(b'not an image at all')                      # corrupt, in the middle
    (src/'3.jpg').write_bytes(jpgs[3].read_bytes()[:200])                  # truncated
    (src/'4.jpg').write_bytes(b'')                                          # empty
    out = tmp_path/'seg'
    m = segment_folder(s['enc'], s['dec'], src, out)
    assert (m['n_images'], m['segmented_now'], m['skipped']) == (6, 3, 0)
    assert sorted(m['failed']) == ['2', '3', '4']
    for k in ('2', '3', '4'): assert f'{k}.jpg' in m['failed'][k], m['failed'][k]
    assert sorted(p.stem for p in (out/'masks').glob('*.png')) == ['0', '1', '5']
    assert sorted(p.stem for p in (out/'overlays').glob('*.jpg')) == ['0', '1', '5']
    (src/'2.jpg').write_bytes(jpgs[2].read_bytes())                        # fixed: the next call does only that one
    m2 = segment_folder(s['enc'], s['dec'], src, out)
    assert (m2['segmented_now'], m2['skipped'], sorted(m2['failed'])) == (1, 3, ['3', '4'])


def test_segment_folder_settings_and_bad_folders(setup, tmp_path):
    s = setup
    test = s['splits']['test']
    m = segment_folder(s['enc'], s['dec'], test, tmp_path/'a', SegmentConfig(overlays=False, size=48))
    assert m['segmented_now'] == len(test) and m['failed'] == {} and not (tmp_path/'a'/'overlays').exists()
    assert load_label_png(tmp_path/'a'/'masks'/f'{test.ids[0]}.png').shape == test.image(0).shape[:2]
    (tmp_path/'empty').mkdir()
    with pytest.raises(DataError, match='no images'): segment_folder(s['enc'], s['dec'], tmp_path/'empty', tmp_path/'b')
    with pytest.raises(DataError, match='not found'): segment_folder(s['enc'], s['dec'], tmp_path/'none', tmp_path/'b')


def test_scores_and_baseline(setup):
    s = setup
    test = s['splits']['test']
    r = evaluate_segmentation(s['enc'], s['dec'], test, known_labels=True)
    assert 0 <= r['miou'] <= 1 and sorted(r['iou']) == sorted(test.vocab.names)
    b = attention_baseline(s['enc'], test)
    assert list(b['miou_per_threshold']) == list(EvalConfig().attention_thresholds)
    assert b['miou'] == max(b['miou_per_threshold'].values())


def test_overlay_size_mismatch():
    with pytest.raises(ValueError, match='differ in size'):
        overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4), np.uint8))
