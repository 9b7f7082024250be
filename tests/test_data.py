"""wsvseg.data end to end on small datasets in the published layouts (tests/layouts.py) and on MP4 files; the folder
layouts every stage reads (image splits, image folders, video folders, the labeller's records, video masks)."""
import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat
from wsvseg.core import VOC
from wsvseg.data import (DataError, VOCDataset, check_voc, voc_split_ids, DAVISDataset, check_davis, YouTubeObjectsDataset,
                         check_youtube_objects, VideoReader, video_info, keyframe_times, read_window,
                         load_label_png, voc_palette, load_image_splits, is_world_folder, is_image_dataset, list_images,
                         detect_kind, list_videos, video_paths, read_record, find_mask_folder, find_frame_folder,
                         video_labels, save_image)
from layouts import make_voc, make_davis, make_youtube_objects, make_video, blob_mask

VOC_TRAIN, VOC_VAL = ['2007_000032', '2007_000039', '2008_000008'], ['2007_000033', '2007_000042']
SBD_TRAIN, SBD_VAL = ['2007_000032', '2008_000002', '2008_000003', '2007_000033'], ['2008_000007', '2007_000042']


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    base = tmp_path_factory.mktemp('voc')
    classes = {i: ['dog'] for i in set(VOC_TRAIN + VOC_VAL + SBD_TRAIN + SBD_VAL)}
    classes['2008_000008'] = ['person', 'horse']
    return make_voc(base, VOC_TRAIN, VOC_VAL, SBD_TRAIN, SBD_VAL, classes)


def test_train_aug_is_sbd_plus_voc_train_minus_voc_val(voc):
    ids = voc_split_ids(*voc[:1], 'train_aug', voc[1])
    want = sorted((set(SBD_TRAIN) | set(SBD_VAL) | set(VOC_TRAIN)) - set(VOC_VAL))
    assert ids == want and not set(ids) & set(VOC_VAL)
    assert check_voc(voc[0].parent, voc[1].parent.parent, check_counts=False) == {'train': 3, 'val': 2, 'train_aug': len(want)}


def test_real_counts_are_enforced_by_default(voc):
    with pytest.raises(DataError) as e: check_voc(*voc)
    msg = str(e.value)
    assert 'train: 3 images, but VOC 2012 train has 1464' in msg and 'val: 2 images, but VOC 2012 val has 1449' in msg
    assert 'train_aug: 6 images, but VOC 2012 train_aug has 10582' in msg


def test_voc_items_masks_and_labels(voc):
    ds = VOCDataset(voc[0], 'train_aug', sbd_root=voc[1], check_counts=False)
    assert ds['2008_000002'].mask_path.suffix == '.mat' and ds['2007_000032'].mask_path.suffix == '.png'   # VOC mask preferred
    for it in ds:
        img, m = it.load()
        assert img.shape == (24, 32, 3) and m.shape == (24, 32) and m.dtype == np.uint8
        assert it.y.dtype == np.float32 and it.y.shape == (20,)
    assert VOC.names_of(ds['2008_000008'].y) == ['horse', 'person']
    xml = VOCDataset(voc[0], 'train_aug', sbd_root=voc[1], labels='xml', check_counts=False)
    np.testing.assert_array_equal(xml.label_matrix(), ds.label_matrix())           # XML and masks agree
    sbd_mask = loadmat(voc[1]/'cls'/'2007_000032.mat')['GTcls']['Segmentation'][0, 0]
    voc_mask = load_label_png(voc[0]/'SegmentationClass'/'2007_000032.png')
    assert ((voc_mask == sbd_mask) | (voc_mask == 255)).all()                       # same map, VOC adds void borders


def test_voc_items_are_lazy(voc, monkeypatch):
    import wsvseg.data as d
    calls = []
    monkeypatch.setattr(d, 'load_image', lambda p: calls.append(p))
    monkeypatch.setattr(d, 'load_label_png', lambda p: calls.append(p))
    VOCDataset(voc[0], 'train', check_counts=False)
    assert calls == []


def test_label_png_is_palette_with_voc_colours(voc):
    im = Image.open(voc[0]/'SegmentationClass'/'2007_000032.png')
    assert im.mode == 'P'
    pal = np.array(im.getpalette()[:768], np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(pal, voc_palette())


def test_davis_2017_instances_and_labels(tmp_path):
    root = make_davis(tmp_path, ['bear', 'bmx-trees'], labels={'bear': 'cat', 'bmx-trees': 'motorcycle'}, n=4)
    ds = DAVISDataset(root, check_counts=False)
    assert [q.name for q in ds] == ['bear', 'bmx-trees'] and ds['bmx-trees'].label == 'motorbike'   # alias resolved
    q = ds['bear']
    assert len(q) == 4 and q.annotated == [0, 1, 2, 3]
    assert set(np.unique(q.instances(2))) == {0, 1, 2}
    assert set(np.unique(q.mask(2))) == {0, 1}
    assert q.label_map(2).max() == VOC.index('cat')
    assert VOC.names_of(q.y) == ['cat']
    frames = list(q.frames())
    assert [i for i, _ in frames] == [0, 1, 2, 3] and frames[0][1].shape == (24, 32, 3)
    with pytest.raises(DataError, match='DAVIS 2017 val has 30'): check_davis(root)


def test_davis_2016_binary(tmp_path):
    root = make_davis(tmp_path, ['blackswan'], year='2016', n=2)
    q = DAVISDataset(root, year='2016', check_counts=False)['blackswan']
    assert set(np.unique(q.instances(0))) == {0, 255} and set(np.unique(q.mask(0))) == {0, 1}
    assert q.y is None


def test_youtube_objects_layout(tmp_path):
    shots = [('aeroplane', '0001', '001'), ('cow', '0019', '001'), ('cow', '0003', '002')]
    root = make_youtube_objects(tmp_path, shots, n_frames=21)
    assert check_youtube_objects(root, check_counts=False) == {'aeroplane/0001/001': 3, 'cow/0003/002': 3, 'cow/0019/001': 3}
    ds = YouTubeObjectsDataset(root, check_counts=False)
    q = ds['cow/0003/002']
    assert len(q) == 21 and q.annotated == [0, 10, 20]
    img, m = q.load(10)
    np.testing.assert_array_equal(m, blob_mask(11, void=False))                   # mask 00011.jpg <-> frame0011.jpg
    assert VOC.names_of(q.y) == ['cow']
    with pytest.raises(DataError, match='3 shots of 2 classes, but the Jain & Grauman masks cover 126 shots of 10'):
        check_youtube_objects(root)


def test_youtube_objects_frames_root_and_resize(tmp_path):
    root = make_youtube_objects(tmp_path, [('dog', '0002', '003')], n_frames=11, frames_beside=False, scale=2)
    with pytest.raises(DataError, match='no frames'): check_youtube_objects(root, check_counts=False)
    q = YouTubeObjectsDataset(root, frames_root=tmp_path/'frames', check_counts=False)['dog/0002/003']
    img, m = q.load(0)
    assert q.frame(0).shape == (48, 64, 3) and img.shape == (24, 32, 3) and m.shape == (24, 32)


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp('v')/'square.mp4', n=40, fps=10, gop=10)


def test_video_stream_times_and_content(video):
    info = video_info(video)
    assert (info.width, info.height, info.fps, info.n_frames, info.duration, info.codec) == (160, 120, 10.0, 40, 4.0, 'h264')
    got = [(t, f) for t, f in VideoReader(video)]
    np.testing.assert_allclose([t for t, _ in got], np.arange(40) / 10)
    cols = [np.flatnonzero(f[60, :, 0] > 200)[0] for _, f in got]                  # the square's left edge, frame by frame
    assert np.abs(np.array(cols) - 2 * np.arange(40)).max() <= 1
    small = next(iter(VideoReader(video, max_side=80)))[1]
    assert small.shape == (60, 80, 3)


def test_keyframes_match_decoded_keyframes(video):
    import av
    kt = keyframe_times(video)
    np.testing.assert_allclose(kt, [0, 1, 2, 3])
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        dec = [float(f.pts * s.time_base) for f in c.decode(s) if f.key_frame]
    np.testing.assert_allclose(kt, dec)


def test_window_equals_full_decode(video):
    full = {round(t, 6): f for t, f in VideoReader(video)}
    for t0, t1 in [(0, 0.45), (1.5, 2.5), (2.95, 3.3), (3.9, 10)]:
        ts, frames = read_window(video, t0, t1)
        want = [t for t in sorted(full) if t0 - 1e-6 <= t <= t1 + 1e-6]
        np.testing.assert_allclose(ts, want)
        for t, f in zip(ts, frames): np.testing.assert_array_equal(f, full[round(t, 6)])


def test_mpeg4_fallback_and_odd_sizes(tmp_path):
    p = make_video(tmp_path/'m.mp4', n=12, fps=6, h=61, w=81, codec='mpeg4', gop=4)
    assert video_info(p).codec == 'mpeg4'
    np.testing.assert_allclose(keyframe_times(p), [0, 4 / 6, 8 / 6])
    p = make_video(tmp_path/'odd.mp4', n=5, fps=5, h=61, w=81)
    assert next(iter(VideoReader(p)))[1].shape == (61, 81, 3)



# ---------------------------------------------------------------- folder layouts read by the stages
def test_image_splits_of_voc_pass_check_counts(voc):
    with pytest.raises(DataError) as e: load_image_splits(voc[0])
    msg = str(e.value)
    assert 'train: 3 images, but VOC 2012 train has 1464' in msg
    assert '--no-check-counts' in msg and 'check_counts = false' in msg and '[inputs]' in msg     # the one flag, named
    sp = load_image_splits(voc[0], voc[1], check_counts=False)
    assert sp['train'].ids == voc_split_ids(voc[0], 'train_aug', voc[1]) and sp['test'].ids == sorted(VOC_VAL)
    assert sp['test'].labels is not None and sp['train'].labels is None          # SBD masks are .mat, not label PNGs
    assert not is_world_folder(voc[0]) and is_image_dataset(voc[0])


def test_world_folder_layouts(tmp_path):
    from wsvseg.core import WorldConfig
    from wsvseg.world import write_world
    w = tmp_path/'w'
    write_world(WorldConfig(n_train=4, n_test=2, n_videos=2, frames=20), w, mp4=False)
    sp = load_image_splits(w)
    assert (len(sp['train']), len(sp['test'])) == (4, 2) and sp['train'].parts is not None
    assert is_world_folder(w) and is_world_folder(w/'images') and is_image_dataset(w)
    assert not is_image_dataset(w/'images'/'JPEGImages') and len(list_images(w/'images'/'JPEGImages')) == 6
    assert detect_kind(w) == 'davis'
    kind, v = list_videos(w)
    assert [s.name for s in v] == ['aeroplane-000', 'bird-001'] and len(v[0].mask_paths) == 20
    assert find_mask_folder(w) == w/'videos'/'Annotations'/'480p' and find_frame_folder(w) == w/'videos'/'JPEGImages'/'480p'
    assert video_labels(find_mask_folder(w), find_frame_folder(w)) == {'aeroplane-000': 'aeroplane', 'bird-001': 'bird'}


def test_detect_kind_and_listing(tmp_path):
    d = make_davis(tmp_path/'davis', ['s1', 's2'], labels={'s1': 'cat', 's2': 'dog'})
    assert detect_kind(d) == 'davis'
    kind, v = list_videos(d)
    assert kind == 'davis' and [s.name for s in v] == ['s1', 's2'] and v[0].label == 'cat' and len(v[0].mask_paths) == 3
    yto = make_youtube_objects(tmp_path/'yto', [('cat', '0001', '001'), ('dog', '0002', '003')])
    kind, v = list_videos(yto)
    assert kind == 'youtube-objects' and [s.name for s in v] == ['cat/0001/001', 'dog/0002/003'] and v[1].label == 'dog'
    assert len(v[0].frame_paths) == 21 and sorted(v[0].mask_paths) == [0, 10, 20]
    sub = tmp_path/'mp4s'
    make_video(sub/'cat'/'a.mp4', n=8); make_video(sub/'dog'/'b.mp4', n=8)
    kind, v = list_videos(sub)
    assert kind == 'mp4' and [(s.name, s.label, s.kind) for s in v] == [('cat/a', 'cat', 'file'), ('dog/b', 'dog', 'file')]
    flat = tmp_path/'flat'
    make_video(flat/'x.mp4', n=8); make_video(flat/'y.mp4', n=8)
    (flat/'labels.json').write_text('{"x": "car"}')
    kind, v = list_videos(flat)
    assert kind == 'mp4' and v[0].label == 'car' and v[1].label is None and 'missing labels' in v[1].problem
    with pytest.raises(DataError, match='not a video folder'): detect_kind(tmp_path/'davis'/'ImageSets')
    with pytest.raises(DataError, match='not found'): detect_kind(tmp_path/'nowhere')
    with pytest.raises(ValueError, match="kind must be"): list_videos(d, 'vimeo')


def test_labeller_records_give_video_classes(tmp_path):
    "Masks under a labeller's stage folder take their classes from its records (read_record), not from a labels.json."
    import json
    stage = tmp_path/'run'/'videoseg'
    for name, label in (('cat/a', 'cat'), ('b', 'tv'), ('c', None)):
        p = video_paths(stage, name)
        p['json'].parent.mkdir(parents=True, exist_ok=True); p['masks'].mkdir(parents=True)
        p['json'].write_text(json.dumps(dict(name=name, label=label, status='labelled' if label else 'error')))
    (stage/'videos'/'broken.json').write_text('{"name": "broken", "lab')           # cut short: not done
    assert read_record(stage, 'cat/a')['label'] == 'cat' and read_record(stage, 'broken') is None
    assert find_mask_folder(tmp_path/'run') == stage/'masks'
    frames = tmp_path/'frames'; save_image(frames/'b'/'00000.jpg', np.zeros((8, 8, 3), np.uint8))
    assert video_labels(stage/'masks', frames) == {'cat/a': 'cat', 'b': 'tvmonitor'}
    with pytest.raises(DataError, match='no labels.json'): video_labels(tmp_path/'m'/'masks', frames)
