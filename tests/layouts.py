"""Builders of small datasets in the published on-disk layouts, for the tests: PASCAL VOC 2012 + SBD,
DAVIS 2016/2017, YouTube-Objects with the Jain & Grauman masks, and MP4 videos. Every file is written
the way the real release stores it (JPEG images, palette PNGs, SBD `GTcls` MATLAB structs, VOC XML)."""
from pathlib import Path
import json
import numpy as np
import scipy.sparse
from scipy.io import savemat
from wsvseg.core import VOC
from wsvseg.data import save_image, save_label_png, write_video

H, W = 24, 32


def blob_mask(k, h=H, w=W, value=1, void=True):
    "A rectangle of `value` whose position depends on `k`, with a one-pixel void (255) border like VOC's."
    m = np.zeros((h, w), np.uint8)
    r, c = 3 + k % 5, 4 + (3 * k) % 9
    m[r:r + 8, c:c + 10] = value
    if void: m[r - 1, c:c + 10] = 255
    return m


def textured(k, h=H, w=W):
    rng = np.random.default_rng(k)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def sbd_struct(seg):
    "The SBD `GTcls` struct: Segmentation, Boundaries (a 20x1 cell of sparse edge maps), CategoriesPresent."
    bnd = np.empty((20, 1), dtype=object)
    for i in range(20): bnd[i, 0] = scipy.sparse.csc_matrix(seg.shape, dtype=np.uint8)
    present = np.unique(seg[(seg > 0) & (seg < 255)]).astype(np.uint8).reshape(-1, 1)
    return {'GTcls': {'Segmentation': seg, 'Boundaries': bnd, 'CategoriesPresent': present}}


def make_voc(base, voc_train, voc_val, sbd_train, sbd_val, classes=None):
    """VOCdevkit/VOC2012 and benchmark_RELEASE/dataset under `base`. VOC masks for VOC train+val ids, SBD masks
    (and SBD img/) for SBD ids; `classes` maps id -> list of class names (default: one class per id)."""
    base = Path(base)
    voc, sbd = base/'VOCdevkit'/'VOC2012', base/'benchmark_RELEASE'/'dataset'
    all_ids = sorted(set(voc_train) | set(voc_val) | set(sbd_train) | set(sbd_val))
    classes = classes or {i: [VOC.objects[k % 20]] for k, i in enumerate(all_ids)}
    (voc/'Annotations').mkdir(parents=True, exist_ok=True); (sbd/'cls').mkdir(parents=True, exist_ok=True)
    for k, i in enumerate(all_ids):
        m = np.zeros((H, W), np.uint8)
        for j, name in enumerate(classes[i]): m = np.where(blob_mask(k + 7 * j) == 1, VOC.index(name), m)
        img = textured(k)
        save_image(voc/'JPEGImages'/f'{i}.jpg', img)
        objs = ''.join(f'<object><name>{n}</name><difficult>0</difficult></object>' for n in classes[i])
        (voc/'Annotations'/f'{i}.xml').write_text(f'<annotation><folder>VOC2012</folder><filename>{i}.jpg</filename>{objs}</annotation>')
        if i in voc_train or i in voc_val:
            mv = m.copy(); mv[np.roll(m, 1, 0) != m] = 255            # void borders, as VOC draws them
            save_label_png(voc/'SegmentationClass'/f'{i}.png', mv)
        if i in sbd_train or i in sbd_val:
            save_image(sbd/'img'/f'{i}.jpg', img)
            savemat(sbd/'cls'/f'{i}.mat', sbd_struct(m))
    for folder, split, ids in ((voc/'ImageSets'/'Segmentation', 'train', voc_train), (voc/'ImageSets'/'Segmentation', 'val', voc_val),
                               (voc/'ImageSets'/'Segmentation', 'trainval', sorted(set(voc_train) | set(voc_val))),
                               (sbd, 'train', sbd_train), (sbd, 'val', sbd_val)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder/f'{split}.txt').write_text(''.join(f'{i}\n' for i in ids))
    return voc, sbd


def make_davis(base, seqs, year='2017', split='val', labels=None, n=3, instances=2):
    "DAVIS tree: `seqs` sequences of `n` frames; 2017 = palette instance ids 1..instances, 2016 = grey 0/255."
    base = Path(base)
    for q_i, q in enumerate(seqs):
        for t in range(n):
            save_image(base/'JPEGImages'/'480p'/q/f'{t:05d}.jpg', textured(100 * q_i + t))
            a = np.zeros((H, W), np.uint8)
            for k in range(1, instances + 1): a = np.where(blob_mask(q_i + t + 5 * k, void=False) == 1, k, a)
            if year == '2016': save_image(base/'Annotations'/'480p'/q/f'{t:05d}.png', np.where(a > 0, 255, 0).astype(np.uint8))
            else: save_label_png(base/'Annotations'/'480p'/q/f'{t:05d}.png', a)
    (base/'ImageSets'/year).mkdir(parents=True, exist_ok=True)
    (base/'ImageSets'/year/f'{split}.txt').write_text(''.join(f'{q}\n' for q in seqs))
    if labels is not None: (base/'labels.json').write_text(json.dumps(labels))
    return base


def make_youtube_objects(base, shots, n_frames=21, frames_beside=True, scale=1):
    """youtube_masks/<class>/data/<video>/shots/<shot>/labels/NNNNN.jpg every 10th frame (1, 11, 21, ...), frames in
    images/frameNNNN.jpg beside them (or under base/'frames' when not `frames_beside`), `scale` times the mask size."""
    base = Path(base)
    root = base/'youtube_masks'
    for k, (cls, video, shot) in enumerate(shots):
        rel = Path(cls)/'data'/video/'shots'/shot
        fdir = root/rel/'images' if frames_beside else base/'frames'/rel
        for f in range(1, n_frames + 1):
            save_image(fdir/f'frame{f:04d}.jpg', np.repeat(np.repeat(textured(f + 50 * k), scale, 0), scale, 1))
            if f % 10 == 1: save_image(root/rel/'labels'/f'{f:05d}.jpg', (blob_mask(f, void=False) * 255).astype(np.uint8))
    return root


def moving_square(n=40, h=120, w=160, seed=0):
    "Frames of a bright square moving right over a textured background; frame k's square starts at column 2k."
    bg = np.random.default_rng(seed).integers(0, 120, (h, w, 3), dtype=np.uint8)
    for k in range(n):
        f = bg.copy(); f[40:80, 2 * k:2 * k + 30] = 255
        yield f


def make_video(path, n=40, fps=10, h=120, w=160, **kw):
    return write_video(path, moving_square(n, h, w), fps, **kw)
