"""Catalogue of bad inputs to the dataset and video readers: one case each. Every case either raises `DataError`
whose message names the offending file or folder and the problem, or performs a documented conversion."""
import json, shutil
import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat
from wsvseg.data import (DataError, VOCDataset, check_voc, DAVISDataset, check_davis, YouTubeObjectsDataset, check_youtube_objects,
                         VideoReader, video_info, keyframe_times, read_window, write_video, load_image, load_label_png,
                         save_label_png, voc_palette, read_labels_json)
from layouts import make_voc, make_davis, make_youtube_objects, make_video, sbd_struct

IDS = dict(voc_train=['a1', 'a2'], voc_val=['b1'], sbd_train=['a1', 'c1'], sbd_val=['c2'])


def voc_tree(tmp):
    voc, sbd = make_voc(tmp, **IDS)
    return voc, sbd


def lbl():
    m = np.zeros((6, 8), np.uint8); m[1:4, 2:6] = 12; m[0] = 255
    return m


def mp4(tmp, name='v.mp4', **kw):
    return make_video(tmp/name, n=20, fps=10, h=48, w=64, **kw)


def faststart(src, dst):
    "Remux with the index (moov) at the front, as web servers deliver MP4s."
    import av
    with av.open(str(src)) as i, av.open(str(dst), 'w', options={'movflags': 'faststart'}) as o:
        s = i.streams.video[0]; out = o.add_stream_from_template(s)
        for p in i.demux(s):
            if p.dts is None: continue
            p.stream = out; o.mux(p)
    return dst


def zero_frame_video(path):
    "A container whose video stream has no frame (header only)."
    import av
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=10); s.width, s.height, s.pix_fmt = 16, 16, 'yuv420p'
        c.start_encoding()
    return path


# ---- each case: (build(tmp) -> callable, expectation). Expectation: a string = DataError containing it
# ---- (and the bad file's name, given as `names`), or a callable checking the converted result.
def _voc_missing_root(t): return lambda: check_voc(t/'VOCdevkit'/'VOC2012')
def _voc_missing_jpeg_folder(t):
    voc, sbd = voc_tree(t); shutil.rmtree(voc/'JPEGImages'); return lambda: check_voc(voc, sbd, check_counts=False)
def _voc_missing_split_file(t):
    voc, sbd = voc_tree(t); (voc/'ImageSets'/'Segmentation'/'val.txt').unlink(); return lambda: VOCDataset(voc, 'val', check_counts=False)
def _voc_empty_split_file(t):
    voc, sbd = voc_tree(t); (voc/'ImageSets'/'Segmentation'/'train.txt').write_text(''); return lambda: VOCDataset(voc, 'train', check_counts=False)
def _voc_missing_image(t):
    voc, sbd = voc_tree(t); (voc/'JPEGImages'/'a2.jpg').unlink(); return lambda: check_voc(voc, sbd, check_counts=False)
def _voc_missing_sbd(t):
    voc, sbd = voc_tree(t); shutil.rmtree(sbd/'cls'); return lambda: check_voc(voc, sbd, splits=['train_aug'], check_counts=False)
def _voc_wrong_counts(t):
    voc, sbd = voc_tree(t); return lambda: check_voc(voc, sbd)
def _voc_mask_size_differs(t):
    voc, sbd = voc_tree(t); save_label_png(voc/'SegmentationClass'/'a1.png', np.zeros((10, 10), np.uint8))
    return lambda: VOCDataset(voc, 'train', check_counts=False)['a1'].load()
def _voc_mask_bad_values(t):
    voc, sbd = voc_tree(t); save_label_png(voc/'SegmentationClass'/'a1.png', np.full((24, 32), 37, np.uint8))
    return lambda: VOCDataset(voc, 'train', check_counts=False)['a1'].mask()
def _xml_unknown_class(t):
    voc, sbd = voc_tree(t); (voc/'Annotations'/'a1.xml').write_text('<annotation><object><name>unicorn</name></object></annotation>')
    return lambda: VOCDataset(voc, 'train', labels='xml', check_counts=False)['a1'].y
def _xml_malformed(t):
    voc, sbd = voc_tree(t); (voc/'Annotations'/'a1.xml').write_text('<annotation><object><name>dog</name>')
    return lambda: VOCDataset(voc, 'train', labels='xml', check_counts=False)['a1'].y
def _mat_empty(t):
    voc, sbd = voc_tree(t); (sbd/'cls'/'c1.mat').write_bytes(b'')
    return lambda: VOCDataset(voc, 'train_aug', sbd, check_counts=False)['c1'].mask()
def _mat_corrupt(t):
    voc, sbd = voc_tree(t); (sbd/'cls'/'c1.mat').write_bytes(b'MATLAB 5.0 MAT-file, garbage' + bytes(200))
    return lambda: VOCDataset(voc, 'train_aug', sbd, check_counts=False)['c1'].mask()
def _mat_without_gtcls(t):
    voc, sbd = voc_tree(t); savemat(sbd/'cls'/'c1.mat', {'GTinst': sbd_struct(lbl())['GTcls']})
    return lambda: VOCDataset(voc, 'train_aug', sbd, check_counts=False)['c1'].mask()
def _png_empty(t): (t/'e.png').write_bytes(b''); return lambda: load_label_png(t/'e.png')
def _png_truncated(t):
    save_label_png(t/'l.png', lbl()); (t/'cut.png').write_bytes((t/'l.png').read_bytes()[:50]); return lambda: load_label_png(t/'cut.png')
def _jpeg_truncated(t):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(t/'i.jpg')
    (t/'cut.jpg').write_bytes((t/'i.jpg').read_bytes()[:600]); return lambda: load_image(t/'cut.jpg')
def _text_as_image(t): (t/'x.jpg').write_text('hello'); return lambda: load_image(t/'x.jpg')
def _png16_small(t): Image.fromarray(lbl().astype(np.uint16)).save(t/'l16.png'); return lambda: load_label_png(t/'l16.png')
def _png16_large(t): Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(t/'big.png'); return lambda: load_label_png(t/'big.png')
def _rgba_image(t):
    a = np.dstack([np.full((4, 5, 3), 77, np.uint8), np.zeros((4, 5), np.uint8)]); Image.fromarray(a).save(t/'rgba.png')
    return lambda: load_image(t/'rgba.png')
def _rgba_label(t):
    Image.fromarray(np.dstack([voc_palette()[lbl()], np.full((6, 8), 128, np.uint8)])).save(t/'rgba_l.png')
    return lambda: load_label_png(t/'rgba_l.png')
def _rgb_label_voc_colours(t): Image.fromarray(voc_palette()[lbl()]).save(t/'rgb_l.png'); return lambda: load_label_png(t/'rgb_l.png')
def _rgb_label_unknown_colour(t):
    a = voc_palette()[lbl()]; a[0, 0] = (1, 2, 3); Image.fromarray(a).save(t/'rgb_bad.png'); return lambda: load_label_png(t/'rgb_bad.png')
def _davis_missing_annotations(t):
    root = make_davis(t, ['bear', 'dog'], n=2); shutil.rmtree(root/'Annotations'/'480p'/'dog'); return lambda: check_davis(root, check_counts=False)
def _davis_mask_size_differs(t):
    root = make_davis(t, ['bear'], n=2); save_label_png(root/'Annotations'/'480p'/'bear'/'00001.png', np.zeros((5, 5), np.uint8))
    return lambda: DAVISDataset(root, check_counts=False)['bear'].load(1)
def _davis_missing_split(t):
    root = make_davis(t, ['bear'], n=1); return lambda: DAVISDataset(root, split='train', check_counts=False)
def _labels_json_unknown_class(t):
    root = make_davis(t, ['bear'], n=1, labels={'bear': 'grizzly'}); return lambda: DAVISDataset(root, check_counts=False)
def _labels_json_invalid(t):
    root = make_davis(t, ['bear'], n=1); (root/'labels.json').write_text('{"bear": "cat",'); return lambda: DAVISDataset(root, check_counts=False)
def _labels_json_not_object(t):
    (t/'labels.json').write_text(json.dumps(['cat'])); return lambda: read_labels_json(t/'labels.json')
def _yto_unknown_class(t):
    root = make_youtube_objects(t, [('unicorn', '0001', '001')], n_frames=11); return lambda: check_youtube_objects(root, check_counts=False)
def _yto_mask_without_frame(t):
    root = make_youtube_objects(t, [('cat', '0001', '001')], n_frames=11)
    (root/'cat'/'data'/'0001'/'shots'/'001'/'images'/'frame0011.jpg').unlink(); return lambda: check_youtube_objects(root, check_counts=False)
def _yto_mask_aspect_differs(t):
    root = make_youtube_objects(t, [('cat', '0001', '001')], n_frames=11)
    shutil.copy(t/'youtube_masks'/'cat'/'data'/'0001'/'shots'/'001'/'images'/'frame0001.jpg', t/'keep.jpg')
    Image.fromarray(np.zeros((24, 24), np.uint8)).save(root/'cat'/'data'/'0001'/'shots'/'001'/'labels'/'00001.jpg')
    return lambda: YouTubeObjectsDataset(root, check_counts=False)['cat/0001/001'].load(0)
def _video_missing(t): return lambda: VideoReader(t/'nope.mp4')
def _video_empty(t): (t/'e.mp4').write_bytes(b''); return lambda: video_info(t/'e.mp4')
def _video_text(t): (t/'notes.mp4').write_text('this is a text file, not a video\n' * 20); return lambda: video_info(t/'notes.mp4')
def _video_random_bytes(t):
    (t/'noise.mp4').write_bytes(np.random.default_rng(0).integers(0, 255, 4000, dtype=np.uint8).tobytes()); return lambda: keyframe_times(t/'noise.mp4')
def _video_truncated(t):
    b = mp4(t).read_bytes(); (t/'cut.mp4').write_bytes(b[:len(b) // 2]); return lambda: video_info(t/'cut.mp4')
def _video_truncated_faststart(t):
    b = faststart(mp4(t), t/'fs.mp4').read_bytes(); (t/'cut_fs.mp4').write_bytes(b[:len(b) // 2]); return lambda: list(VideoReader(t/'cut_fs.mp4'))
def _mp4_zero_frames(t): p = zero_frame_video(t/'zero.mp4'); return lambda: VideoReader(p)
def _mkv_zero_frames(t): p = zero_frame_video(t/'zero.mkv'); return lambda: video_info(p)
def _avi_zero_frames_keyframes(t): p = zero_frame_video(t/'zero.avi'); return lambda: keyframe_times(p)
def _avi_zero_frames_decode(t): p = zero_frame_video(t/'zero.avi'); return lambda: list(VideoReader(p))
def _video_still_image(t): Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(t/'still.jpg'); return lambda: VideoReader(t/'still.jpg')
def _window_reversed(t): p = mp4(t); return lambda: read_window(p, 1.0, 0.5)
def _window_past_end(t): p = mp4(t); return lambda: read_window(p, 5.0, 7.0)
def _write_no_frames(t): return lambda: write_video(t/'none.mp4', iter([]), 10)
def _write_size_changes(t): return lambda: write_video(t/'sz.mp4', [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], 10)


def _is(expected):
    def check(out): np.testing.assert_array_equal(out, expected)
    return check

CASES = {  # name: (build, expected error text or result check, file/folder name the message must contain)
    'voc root missing':            (_voc_missing_root, 'VOC 2012 folder (VOCdevkit/VOC2012) not found', 'VOC2012'),
    'voc JPEGImages missing':      (_voc_missing_jpeg_folder, 'missing folder', 'JPEGImages'),
    'voc split file missing':      (_voc_missing_split_file, 'VOC val split file not found', 'val.txt'),
    'voc split file empty':        (_voc_empty_split_file, 'is empty (0 bytes)', 'train.txt'),
    'voc image missing':           (_voc_missing_image, 'train: 1 image(s) missing', 'a2'),
    'sbd cls folder missing':      (_voc_missing_sbd, 'missing folder', 'cls'),
    'voc wrong counts':            (_voc_wrong_counts, 'train: 2 images, but VOC 2012 train has 1464', 'VOC2012'),
    'voc mask size differs':       (_voc_mask_size_differs, 'mask size (10, 10) differs from image size (24, 32)', 'a1.png'),
    'voc mask values not classes': (_voc_mask_bad_values, 'label values [37] are neither classes 0..20 nor void 255', 'a1.png'),
    'xml unknown class':           (_xml_unknown_class, "unknown class name 'unicorn'", 'a1.xml'),
    'xml malformed':               (_xml_malformed, 'XML annotation is not well-formed', 'a1.xml'),
    'sbd mat empty':               (_mat_empty, 'is empty (0 bytes)', 'c1.mat'),
    'sbd mat corrupt':             (_mat_corrupt, 'not a readable MATLAB file', 'c1.mat'),
    'sbd mat without GTcls':       (_mat_without_gtcls, 'has no variable GTcls', 'c1.mat'),
    'label png empty':             (_png_empty, 'label image is empty (0 bytes)', 'e.png'),
    'label png truncated':         (_png_truncated, 'label image is corrupt or truncated', 'cut.png'),
    'jpeg truncated':              (_jpeg_truncated, 'image is corrupt or truncated', 'cut.jpg'),
    'text file as image':          (_text_as_image, 'not an image file PIL can read', 'x.jpg'),
    '16-bit label in 0..255':      (_png16_small, _is(lbl()), None),
    '16-bit label above 255':      (_png16_large, 'values 1000..1000; label indices must lie in 0..255', 'big.png'),
    'RGBA image -> RGB':           (_rgba_image, _is(np.full((4, 5, 3), 77, np.uint8)), None),
    'RGBA VOC-colour label':       (_rgba_label, _is(lbl()), None),
    'RGB VOC-colour label':        (_rgb_label_voc_colours, _is(lbl()), None),
    'RGB label unknown colour':    (_rgb_label_unknown_colour, '1 colour(s) not in the VOC palette, e.g. [(1, 2, 3)]', 'rgb_bad.png'),
    'davis annotations missing':   (_davis_missing_annotations, 'dog: no annotations in', 'dog'),
    'davis mask size differs':     (_davis_mask_size_differs, 'mask size (5, 5) differs from frame size (24, 32)', '00001.png'),
    'davis split missing':         (_davis_missing_split, 'DAVIS split file not found', 'train.txt'),
    'labels.json unknown class':   (_labels_json_unknown_class, "sequence 'bear': unknown class name 'grizzly'", 'labels.json'),
    'labels.json invalid JSON':    (_labels_json_invalid, 'not valid JSON', 'labels.json'),
    'labels.json not an object':   (_labels_json_not_object, 'must hold a JSON object', 'labels.json'),
    'yto unknown class folder':    (_yto_unknown_class, "unknown class folder 'unicorn'", 'unicorn'),
    'yto mask without frame':      (_yto_mask_without_frame, 'mask(s) without a frame', '00011.jpg'),
    'yto mask aspect differs':     (_yto_mask_aspect_differs, 'mask size (24, 24) differs from frame size (24, 32)', '00001.jpg'),
    'video missing':               (_video_missing, 'video file not found', 'nope.mp4'),
    'video empty file':            (_video_empty, 'video file is empty (0 bytes)', 'e.mp4'),
    'text file named .mp4':        (_video_text, 'not a readable video file', 'notes.mp4'),
    'random bytes .mp4':           (_video_random_bytes, 'not a readable video file', 'noise.mp4'),
    'truncated mp4 (index lost)':  (_video_truncated, 'not a readable video file', 'cut.mp4'),
    'truncated mp4 (faststart)':   (_video_truncated_faststart, 'the file is truncated or corrupt', 'cut_fs.mp4'),
    'mp4 with no frames':          (_mp4_zero_frames, 'holds no video stream', 'zero.mp4'),
    'mkv with no frames':          (_mkv_zero_frames, 'not a readable video file', 'zero.mkv'),
    'avi with no frames: keys':    (_avi_zero_frames_keyframes, 'no key-frame packets', 'zero.avi'),
    'avi with no frames: decode':  (_avi_zero_frames_decode, 'no video frame could be decoded', 'zero.avi'),
    'still image as video':        (_video_still_image, 'not a video file', 'still.jpg'),
    'window t1 < t0':              (_window_reversed, 'bad time window [1.0, 0.5]', 'v.mp4'),
    'window past the end':         (_window_past_end, 'no frame in the window [5.000, 7.000] s (the video lasts 2.0 s)', 'v.mp4'),
    'write: no frames':            (_write_no_frames, 'no frames to write', 'none.mp4'),
    'write: frame size changes':   (_write_size_changes, 'frame 1 has size (8, 10)', 'sz.mp4'),
}


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input(name, tmp_path):
    build, expect, names = CASES[name]
    call = build(tmp_path)
    if callable(expect):
        expect(call()); return
    with pytest.raises(DataError) as e: call()
    msg = str(e.value)
    assert expect in msg, msg
    assert names in msg, f'the message does not name {names!r}: {msg}'
