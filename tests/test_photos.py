"""The photo world: Debian's Tux Paint photographs (`wsvseg.photos`) composed by the world generator
(`WorldConfig(kind='photo')`), checked on another seed than the notebooks', written to disk and read back."""
import dataclasses, json, os
from collections import Counter
import cv2
import numpy as np
import pytest

from wsvseg.core import IGNORE_INDEX, PRESETS, WorldConfig, preset_config
from wsvseg.data import DataError, VOCDataset, load_image_splits
from wsvseg.photos import (PHOTO_CLASSES, NOT_PHOTOGRAPHS, fetch_tuxpaint, tuxpaint_root, photo_catalogue, load_cutout,
                           load_cutouts, load_backgrounds, photo_sources)
from wsvseg.world import (generate_images, generate_videos, make_image, world_rng, write_world, read_world_json,
                          photo_assets, video_summary)
from wsvseg.pipeline import reference_scores, mark_imagenet_parts

CFG = dataclasses.replace(preset_config('photo').world, seed=5)


@pytest.fixture(scope='module')
def root():
    try: return tuxpaint_root()
    except DataError as e: pytest.skip(f'the photographs are not available: {e}')


def test_the_preset_names_exactly_the_classes_that_have_photographs():
    assert set(PRESETS['photo']['world']['classes']) == set(PHOTO_CLASSES)
    assert CFG.kind == 'photo' and CFG.static_classes == ()


def test_catalogue_lists_the_photographs_of_each_class(root):
    cat = photo_catalogue(root)
    assert {c: len(cat[c]) for c in PHOTO_CLASSES} == dict(aeroplane=2, bird=35, bus=1, car=4, cow=3, dog=2, horse=1,
                                                           sheep=3)
    names = [n for v in cat.values() for n in v]
    assert len(names) == len(set(names))                                        # no photograph in two classes
    assert not set(NOT_PHOTOGRAPHS) & set(cat[None]) and not any('cartoon' in n for n in names)


def test_a_missing_class_photograph_is_named(root, tmp_path):
    fake = tmp_path/'tp'
    for d in ('stamps/animals/birds', 'templates'): (fake/d).mkdir(parents=True)
    with pytest.raises(DataError, match=r"aeroplane photograph\(s\) \['vehicles/flight/planes/747'"):
        photo_catalogue(fake)


def test_without_apt_get_the_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(DataError) as e: fetch_tuxpaint(tmp_path/'cache')
    msg = str(e.value)
    assert str(tmp_path/'cache') in msg and 'apt-get and dpkg-deb not found' in msg and 'dpkg-deb -x' in msg


def test_wsvseg_tuxpaint_must_be_a_tux_paint_folder(tmp_path, monkeypatch):
    monkeypatch.setenv('WSVSEG_TUXPAINT', str(tmp_path))
    with pytest.raises(DataError, match='WSVSEG_TUXPAINT'): tuxpaint_root()


def test_cutouts_are_cropped_to_their_masks(root):
    cuts = load_cutouts(root)
    assert all(c.alpha.shape == c.rgb.shape[:2] and max(c.alpha.shape) <= 256 for c in cuts)
    for c in cuts[:20]:                                 # the mask reaches the crop's border region (2 px margin)
        m = c.alpha > 0.5
        assert m[:5].any() and m[-5:].any() and m[:, :5].any() and m[:, -5:].any()


def test_a_png_without_alpha_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path/'x.png'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match='x.png: no alpha channel'): load_cutout(tmp_path/'x.png')


def test_backgrounds_leave_out_the_sheep_and_cut_the_black_band(root):
    bgs = load_backgrounds(root)
    assert len(bgs) == 18 and 'sheep' not in bgs
    assert bgs['mossy_bark'][-3:].mean() > 0.1


def test_held_out_material_appears_only_in_test_images(root):
    train = [im for _, im in generate_images(CFG, 'train', 0, 120)]
    test = [im for _, im in generate_images(CFG, 'test', 0, 60)]
    birds = lambda ims: {o['shape'] for im in ims for o in im.objects if o['name'] == 'bird'}
    assert birds(test) <= set(CFG.test_photos) and not birds(train) & set(CFG.test_photos)
    assert len(birds(test)) >= 4 and len(birds(train)) >= 15
    a = photo_assets(CFG)
    assert len(a['test']) == len(CFG.test_backgrounds) and len(a['train']) == 18 - len(CFG.test_backgrounds)


def test_photo_images_have_consistent_ground_truth_and_balanced_classes(root):
    ims = [im for _, im in generate_images(CFG, 'train', 0, 160)]
    count = Counter(o['name'] for im in ims for o in im.objects)
    assert set(count) == set(CFG.classes) and min(count.values()) > 0.4 * max(count.values())
    for im in ims:
        assert not im.parts.any()
        for k, o in enumerate(im.objects, 1): assert ((im.instances == k) <= (im.label == o['cls'])).all()
        assert (im.label == 0).mean() > 0.1 and (im.label == IGNORE_INDEX).mean() < 0.15
    a, b = make_image(CFG, world_rng(CFG, 'train', 3)), make_image(CFG, world_rng(CFG, 'train', 3))
    assert np.array_equal(a.image, b.image)


def test_photo_videos_move_and_hold_distractors(root):
    vids = list(generate_videos(CFG, 0, 16))
    s = video_summary(vids)
    assert s['with_distractor'] >= 8 and s['with_absent_frames'] >= 5 and s['with_other_class'] >= 4
    for v in vids:
        c = v.centres[:, 0]
        assert np.linalg.norm(c[-1] - c[0]) + np.abs(np.diff(v.camera, axis=0)).sum() > 3   # something moves
        assert not v.parts.any()


def test_a_tiny_photo_world_on_disk(root, tmp_path):
    cfg = dataclasses.replace(CFG, n_train=6, n_test=4, n_videos=2, frames=20, absent_frames=(2, 4))
    info = write_world(cfg, tmp_path/'w', mp4=False)
    assert info['photographs']['root'] == str(root) and read_world_json(tmp_path/'w')['config']['kind'] == 'photo'
    assert not (tmp_path/'w'/'images'/'SegmentationPart').exists()              # photographs mark no parts
    splits = load_image_splits(tmp_path/'w', check_counts=False)
    assert len(splits['train']) == 6 and splits['test'].parts is None
    ref = reference_scores(tmp_path/'w')
    assert set(ref['images']) == {'background everywhere'} and set(ref['videos']) == {'background everywhere'}


def test_the_imagenet_classifier_marks_a_part_on_each_test_object(root, tmp_path):
    cfg = dataclasses.replace(CFG, n_train=2, n_test=4, n_videos=1, frames=20, absent_frames=(2, 4))
    write_world(cfg, tmp_path/'w', mp4=False)
    m = mark_imagenet_parts(tmp_path/'w', cfg.part_fraction)
    assert (m['images'], m['written']) == (4, 4) and mark_imagenet_parts(tmp_path/'w')['written'] == 0   # resumes
    test = load_image_splits(tmp_path/'w', check_counts=False)['test']
    assert test.parts is not None
    for i in range(len(test)):
        inst, part = test.instance(i), test.part(i)
        for k in set(np.unique(inst)) - {0, IGNORE_INDEX}:
            frac = (part == k).sum() / (inst == k).sum()
            assert 0.05 < frac < 0.2 and not ((part == k) & (inst != k)).any()
    assert 'discriminative parts only' in reference_scores(tmp_path/'w')['images']
