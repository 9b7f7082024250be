"""The built-in world (`wsvseg.world`): every property DESIGN.md lists under "The built-in world", checked on the small
preset with another seed than the notebook's, and the world written to disk and read back through the real datasets'
readers of `wsvseg.data` (VOC layout for images, DAVIS layout for videos)."""
import dataclasses, json
from collections import Counter
import numpy as np
import pytest
from scipy import stats

from wsvseg.core import IGNORE_INDEX, WorldConfig, preset_config
from wsvseg.data import (DataError, VOCDataset, DAVISDataset, check_voc, check_davis, load_label_png,
                         VideoReader, load_image_splits)
from wsvseg.world import (make_image, make_video, generate_images, generate_videos, world_rng, object_table,
                          world_speeds, video_summary, domain_stats, write_world, world_vocab,
                          load_world_config, read_world_json, image_ids, video_name, make_sprite)

CFG = WorldConfig(seed=11)


@pytest.fixture(scope='module')
def images():
    return [im for _, im in generate_images(CFG, 'train', 0, 200)]


@pytest.fixture(scope='module')
def videos():
    return list(generate_videos(CFG, 0, 20))


# ---------------------------------------------------------------- classes, bodies, parts
def test_several_classes_and_one_static():
    assert CFG.C >= 3 and CFG.vocab.objects == CFG.classes
    assert len(CFG.static_classes) == 1 and CFG.static_classes[0] in CFG.classes


def test_part_is_a_small_fraction_of_the_body_and_inside_it():
    rng = np.random.default_rng(0)
    sp = [make_sprite(CFG, rng, c) for c in range(1, CFG.C + 1) for _ in range(15)]
    frac = np.array([s.part.sum() / s.body.sum() for s in sp])
    assert abs(frac.mean() - CFG.part_fraction) < 0.01 and frac.max() < 0.2
    assert all(not (s.part & ~s.body).any() for s in sp)
    assert not make_sprite(CFG, rng, 0).part.any()                     # class 0 = a part-less distractor body


def test_body_is_class_independent_and_part_is_class_specific(images):
    t = object_table(images)
    C = CFG.C
    tex = np.array([np.bincount(t['texture'][t['cls'] == c], minlength=CFG.n_textures) for c in range(1, C + 1)])
    shp = np.array([np.bincount(t['shape'][t['cls'] == c], minlength=3) for c in range(1, C + 1)])
    assert stats.chi2_contingency(tex + 1).pvalue > 0.001
    assert stats.chi2_contingency(shp).pvalue > 0.001
    by = lambda k: np.array([t[k][t['cls'] == c].mean(0) for c in range(1, C + 1)])
    assert np.abs(by('diameter') / t['diameter'].mean() - 1).max() < 0.1
    assert np.abs(by('body_rgb') - t['body_rgb'].mean(0)).max() < 25
    d = np.linalg.norm(by('part_rgb')[:, None] - by('part_rgb')[None], axis=-1)
    assert d[~np.eye(C, dtype=bool)].min() > 60
    # the size distribution of bodies, not just its mean, is the same for every class (Kolmogorov-Smirnov, vs the rest)
    for c in range(1, C + 1):
        assert stats.ks_2samp(t['diameter'][t['cls'] == c], t['diameter'][t['cls'] != c]).pvalue > 0.001


def test_objects_are_large(images):
    d = object_table(images)['diameter'] / CFG.size[1]
    assert d.min() >= CFG.body_size[0] and d.max() <= CFG.body_size[1] and np.median(d) > 0.4


# ---------------------------------------------------------------- images
def test_images_have_1_to_3_objects_multilabel_background_and_consistent_gt(images):
    assert set(Counter(len(im.objects) for im in images)) == {1, 2, 3}
    assert np.mean([im.y.sum() > 1 for im in images]) > 0.3
    for im in images:
        assert im.image.shape == (96, 128, 3) and im.image.dtype == np.uint8
        assert (im.label == 0).any()                                    # a background class
        assert ((im.label == IGNORE_INDEX) == (im.instances == IGNORE_INDEX)).all()
        for k, o in enumerate(im.objects, 1):
            assert ((im.instances == k) <= (im.label == o['cls'])).all()
            assert ((im.parts == k) <= ((im.instances == k) | (im.instances == IGNORE_INDEX))).all()
            assert (im.parts == k).any()
        assert set(np.flatnonzero(im.y) + 1) == {o['cls'] for o in im.objects}


def test_both_splits_and_counts_are_parameters():
    cfg = WorldConfig(size=(80, 60), n_train=3, n_test=2, n_videos=2, frames=24)
    tr, te = list(generate_images(cfg, 'train')), list(generate_images(cfg, 'test'))
    assert [i for i, _ in tr] == image_ids(cfg, 'train') and len(te) == 2
    assert tr[0][1].image.shape == (60, 80, 3)
    vs = list(generate_videos(cfg))
    assert len(vs) == 2 and vs[0].frames.shape == (24, 60, 80, 3)
    with pytest.raises(ValueError, match="'train' and 'test'"): image_ids(cfg, 'val')


def test_presets():
    s, b = WorldConfig(), preset_config('world-benchmark').world
    assert s.size == (128, 96) and b.size[0] > s.size[0] and b.n_train > s.n_train and b.n_videos > s.n_videos
    im = make_image(b, world_rng(b, 'test', 0))
    assert im.image.shape == (b.size[1], b.size[0], 3)
    v = make_video(b, world_rng(b, 'videos', 0), 1)
    assert v.frames.shape == (b.frames, b.size[1], b.size[0], 3)


# ---------------------------------------------------------------- videos
def test_videos_one_query_and_per_frame_gt(videos):
    for i, v in enumerate(videos):
        assert v.query == i % CFG.C + 1 and v.name == video_name(CFG, i)
        assert v.objects[0]['role'] == 'query' and v.objects[0]['cls'] == v.query
        assert all(o['cls'] != v.query for o in v.objects[1:])
        assert (v.masks == (v.instances == 1)).all()
        assert not v.masks[~v.present[:, 0]].any()
        for o in v.objects:
            assert ((v.parts == o['id']) <= (v.instances == o['id'])).all()


def test_videos_motion_camera_and_static_class(videos):
    W = CFG.size[0]
    steps = np.concatenate([np.linalg.norm(np.diff(v.centres, axis=0), axis=-1).ravel() for v in videos])
    assert steps.max() < 0.035 * W                                    # smooth: no jumps
    # the query mask's centroid also moves little between consecutive frames where the object is fully in view
    for v in videos:
        ok = v.masks.any((1, 2))
        c = np.array([np.argwhere(m).mean(0) if m.any() else (np.nan, np.nan) for m in v.masks])
        d = np.linalg.norm(np.diff(c, axis=0), axis=-1)[ok[1:] & ok[:-1]]
        assert np.median(d) < 0.03 * W
    assert all(np.linalg.norm(v.camera[-1] - v.camera[0]) > 0.05 * W for v in videos)
    sp = [(o['static'], world_speeds(v)[o['id'] - 1]) for v in videos for o in v.objects]
    static, moving = [s for st, s in sp if st], [s for st, s in sp if not st]
    assert static and moving and np.mean(static) < 0.1 * np.mean(moving)
    st = {CFG.classes.index(c) + 1 for c in CFG.static_classes}
    assert all(o['static'] == (o['cls'] in st) for v in videos for o in v.objects)


def test_videos_ambiguity(videos):
    s = video_summary(videos)
    n = s['videos']
    assert s['with_absent_frames'] >= 0.4 * n and s['with_distractor'] >= 0.5 * n and s['with_other_class'] >= 0.2 * n
    assert s['min_frames_with_query'] >= CFG.frames - 2 * CFG.absent_frames[1]      # absent in an intro and an outro
    for v in videos:
        for o in v.objects:
            if o['role'] == 'distractor':
                assert o['cls'] == 0 and not (v.parts == o['id']).any()
                assert world_speeds(v)[o['id'] - 1] > 0.3 * CFG.speed[0] * CFG.size[0]   # it moves like an object


def test_domain_gap(images, videos):
    di = domain_stats(np.stack([im.image for im in images[:60]]), np.stack([im.label for im in images[:60]]))
    dv = domain_stats(np.concatenate([v.frames[::5] for v in videos]),
                      np.concatenate([v.instances[::5] for v in videos]))
    assert dv['blue_red'] > 1.1 * di['blue_red'] and dv['contrast'] < 0.9 * di['contrast']
    assert dv['sharpness'] < 0.8 * di['sharpness']
    assert dv['sharpness'] > 0.3 * di['sharpness']                     # moderate: videos are not a blur


def test_reproducible():
    a, b = make_image(CFG, world_rng(CFG, 'train', 3)), make_image(CFG, world_rng(CFG, 'train', 3))
    assert all((getattr(a, k) == getattr(b, k)).all() for k in ('image', 'label', 'instances', 'parts'))
    c = make_image(WorldConfig(seed=12), world_rng(WorldConfig(seed=12), 'train', 3))
    assert not np.array_equal(a.image, c.image)
    va, vb = make_video(CFG, world_rng(CFG, 'videos', 2), 3), make_video(CFG, world_rng(CFG, 'videos', 2), 3)
    assert (va.frames == vb.frames).all() and (va.instances == vb.instances).all()


def test_bad_config():
    with pytest.raises(ValueError, match='part_fraction'): WorldConfig(part_fraction=0.9)
    with pytest.raises(ValueError, match='objects_per_image'): WorldConfig(objects_per_image=(0, 2))
    with pytest.raises(ValueError, match='too few'): WorldConfig(frames=10)
    with pytest.raises(ValueError, match='static_classes'): WorldConfig(static_classes=('sofa',))
    with pytest.raises(ValueError, match='duplicate'): WorldConfig(classes=('cat', 'cat'), static_classes=())


# ---------------------------------------------------------------- on disk
TINY = WorldConfig(seed=5, size=(96, 72), n_train=12, n_test=6, n_videos=5, frames=20, absent_frames=(2, 5))


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp('w')/'world'
    info = write_world(TINY, root)
    return root, info


def test_layout_on_disk(world):
    root, info = world
    assert info['complete'] and info['counts']['images_train'] == 12 and info['counts']['videos'] == 5
    im, vd = root/'images', root/'videos'
    for sub in ('JPEGImages', 'SegmentationClass', 'SegmentationObject', 'SegmentationPart', 'Annotations'):
        assert len(list((im/sub).iterdir())) == 18, sub
    for s in ('train', 'test', 'val', 'trainval'): assert (im/'ImageSets'/'Segmentation'/f'{s}.txt').is_file()
    sets = im/'ImageSets'/'Segmentation'
    assert (sets/'val.txt').read_text() == (sets/'test.txt').read_text()
    names = [video_name(TINY, i) for i in range(5)]
    for q in names:
        for sub in ('JPEGImages', 'Annotations', 'SegmentationObject', 'SegmentationPart'):
            assert len(list((vd/sub/'480p'/q).iterdir())) == TINY.frames, (sub, q)
        assert (vd/'Meta'/f'{q}.json').is_file() and (vd/'mp4'/f'{q}.mp4').is_file()
    assert json.loads((vd/'labels.json').read_text()) == {q: TINY.classes[i % TINY.C] for i, q in enumerate(names)}
    assert not [p for p in root.rglob('*.tmp*')]                       # no temporary file left behind
    assert read_world_json(root)['classes'] == list(TINY.classes)
    assert load_world_config(root) == TINY


def test_images_read_back_through_voc_reader(world):
    root, _ = world
    vocab = world_vocab(root)
    assert check_voc(root/'images', splits=['train', 'val', 'trainval'], labels='xml', check_counts=False) == \
        {'train': 12, 'val': 6, 'trainval': 18}
    for split, wsplit in (('train', 'train'), ('val', 'test')):
        ds = VOCDataset(root/'images', split, check_counts=False, vocab=vocab)
        ref = list(generate_images(TINY, wsplit))
        assert [it.id for it in ds] == [i for i, _ in ref]
        for it, (_, s) in zip(ds, ref):
            img, m = it.load()
            assert (m == s.label).all() and (it.y == s.y).all()
            assert np.abs(img.astype(int) - s.image).mean() < 10
            assert (load_label_png(root/'images'/'SegmentationObject'/f'{it.id}.png') == s.instances).all()
            assert (load_label_png(root/'images'/'SegmentationPart'/f'{it.id}.png') == s.parts).all()
        xml = VOCDataset(root/'images', split, labels='xml', check_counts=False, vocab=vocab)
        assert (xml.label_matrix() == np.stack([s.y for _, s in ref])).all()


def test_videos_read_back_through_davis_reader(world):
    root, _ = world
    vocab = world_vocab(root)
    for split in ('train', 'val'):
        assert len(check_davis(root/'videos', TINY.year, split, check_counts=False, vocab=vocab)) == 5
    ds = DAVISDataset(root/'videos', TINY.year, 'train', check_counts=False, vocab=vocab)
    for seq, v in zip(ds, generate_videos(TINY)):
        assert seq.name == v.name and seq.label == TINY.classes[v.query - 1]
        assert seq.annotated == list(range(TINY.frames))
        assert (seq.y == vocab.vector([seq.label])).all()
        for t in (0, TINY.frames // 2, TINY.frames - 1):
            img, m = seq.load(t)
            assert (m.astype(bool) == v.masks[t]).all()
            assert (seq.label_map(t) == v.masks[t] * v.query).all()
            assert np.abs(img.astype(int) - v.frames[t]).mean() < 10
            objects = load_label_png(root/'videos'/'SegmentationObject'/'480p'/v.name/f'{t:05d}.png')
            assert (objects == v.instances[t]).all()
            assert (load_label_png(root/'videos'/'SegmentationPart'/'480p'/v.name/f'{t:05d}.png') == v.parts[t]).all()
        meta = json.loads((root/'videos'/'Meta'/f'{v.name}.json').read_text())
        assert meta['objects'] == v.objects and np.allclose(meta['camera'], v.camera, atol=1e-3)
        assert (np.array(meta['present']) == v.present).all()
        frames = [f for f in VideoReader(root/'videos'/'mp4'/f'{v.name}.mp4')]
        assert len(frames) == TINY.frames


def test_image_splits_read_the_world(world):
    root, _ = world
    sp = load_image_splits(root)
    assert set(sp) == {'train', 'test'} and len(sp['train'].ids) == 12 and len(sp['test'].ids) == 6
    assert tuple(sp['train'].vocab.objects) == TINY.classes


def test_write_is_resumable_and_reproducible(tmp_path, world):
    root0, _ = world
    root = tmp_path/'w'
    import wsvseg.world as W
    calls = {'n': 0}
    orig = W._write_video
    def dies_after_two(*a, **k):
        if calls['n'] == 2: raise KeyboardInterrupt('killed')
        calls['n'] += 1; return orig(*a, **k)
    W._write_video = dies_after_two
    try:
        with pytest.raises(KeyboardInterrupt): write_world(TINY, root)
    finally: W._write_video = orig
    assert not read_world_json(root)['complete']
    info = write_world(TINY, root)
    assert info['complete'] and info['written_now'] == {'images': 0, 'videos': 3}
    # every label file equals the uninterrupted write's, byte for byte
    masks = root0/'videos'/'Annotations'/'480p'/video_name(TINY, 4)
    for p in sorted((root0/'images'/'SegmentationClass').iterdir())[:6] + sorted(masks.iterdir())[:3]:
        assert p.read_bytes() == (root/p.relative_to(root0)).read_bytes(), p


def test_refuses_foreign_folders_and_other_worlds(tmp_path, world):
    root0, _ = world
    other = tmp_path/'thesis'; other.mkdir(); (other/'chapter1.tex').write_text('x')
    with pytest.raises(DataError, match='holds no world.json; refusing'): write_world(TINY, other)
    assert [p.name for p in other.iterdir()] == ['chapter1.tex']
    (tmp_path/'file').write_text('x')
    with pytest.raises(DataError, match='is not a folder'): write_world(TINY, tmp_path/'file')
    small = dataclasses.replace(TINY, n_train=2, n_test=1, n_videos=1)
    root = tmp_path/'w'
    write_world(small, root, mp4=False)
    with pytest.raises(DataError, match=r"another configuration \(differs in \['seed'\]\)"):
        write_world(dataclasses.replace(small, seed=6), root)
    info = write_world(dataclasses.replace(small, seed=6, n_videos=2), root, overwrite=True, mp4=False)
    assert info['config']['seed'] == 6 and len(list((root/'videos'/'Meta').iterdir())) == 2
    with pytest.raises(DataError, match='not a wsvseg world folder'): world_vocab(other)
