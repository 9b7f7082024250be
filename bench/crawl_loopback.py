"""A crawl of a loopback site (issue 11, §4): the world's classes, `--results` search results each, `--off` of them
off-class, served on 127.0.0.1 by tests/crawlsite.py (mp4s with a key-frame every `--gop` frames, JPEG thumbnails),
crawled by `wsvseg.crawl.crawl` with the real yt-dlp.

Scoring: by default a fake `score` that reads each picture's stamp and returns the class probabilities the site gave
it (exact and free: the numbers then measure the crawl's own cost); with `--checkpoint ENCODER.pt`, the encoder's
`class_scores` (its columns matched to the site's classes by name), so the thumbnail filter's precision is a real one.

Prints: the thumbnail filter's precision and recall against the served videos' true classes (a video counts as
downloaded when the site served its media file), key-frames kept per downloaded video, seconds per video spent in
search / thumbnail / download / key-frame scoring / clipping (the crawl's per-phase seconds over the listed results),
clips written and their seconds of video. With `--label` (and a checkpoint), the clips are then labelled as
`wsvseg-label-videos` labels them (the world preset's LabelConfig) and scored like Table 4: the ground truth of a clip
frame is the source frame's objects of the clip's class (found by the frame's stamp; an off-class video downloaded by
mistake has none, or the other object of that class that fooled the thumbnail filter). Asserts nothing.

    python bench/crawl_loopback.py [--results 20] [--off 0.5] [--checkpoint ENC.pt [--label]] [--size 128x96]
"""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'tests')]
import numpy as np


def encoder_score(path, classes):
    "score(frames) -> (N, len(classes)) from an encoder checkpoint, columns in the site's class order."
    from wsvseg.encoder import load_encoder, class_scores
    model, names = load_encoder(path)
    missing = [c for c in classes if c not in names]
    if missing: sys.exit(f'{path}: the encoder does not know the classes {missing} (it knows {names})')
    cols = [names.index(c) for c in classes]
    def score(frames):
        import torch
        with torch.no_grad(): return class_scores(model, np.asarray(frames)).numpy()[:, cols]
    return score


def label_clips(spec, tmp, a):
    "Label the clips with the checkpoint (the labeller as wsvseg-label-videos runs it) and score them like Table 4."
    from wsvseg.core import preset_config
    from wsvseg.data import list_videos, save_label_png, read_record, VideoReader
    from wsvseg.label import label_videos, evaluate_labels, evaluation_table
    _, src = list_videos(tmp / 'run' / 'crawl' / 'clips')
    if a.label_clips:
        per = {}
        src = [s for s in src if per.setdefault(s.label, []).append(s) or len(per[s.label]) <= a.label_clips]
    masks = {}
    for s in src:               # ground truth of a clip frame: its source frame's objects of the clip's class
        where = spec.locate([f for _, f in VideoReader(s.path)])
        for k, loc in enumerate(where):
            if loc is None: continue
            name, t = loc
            if (name, s.label) not in masks: masks[name, s.label] = spec.masks(name, s.label)
            p = tmp / 'gt' / s.name / f'{k:05d}.png'
            save_label_png(p, masks[name, s.label][t].astype(np.uint8))
            s.mask_paths[k] = str(p)
    cfg = preset_config('world').label
    t = time.time()
    summ = label_videos(src, a.checkpoint, tmp / 'label', cfg, workers=a.workers)
    wall = time.time() - t
    out = tmp / 'label' / 'videoseg'
    recs = [read_record(out, s.name) for s in src]
    n = sum(r['n_frames'] for r in recs if r)
    kept = sum(b - a_ for r in recs if r for a_, b in r.get('intervals', []))
    print(f'labelled {len(src)} clips ({summ["counts"]}) in {wall:.1f} s with {a.workers} worker(s): '
          f'{kept} of {n} frames kept by the filter ({kept / max(1, n):.2f})')
    res = evaluate_labels(tmp / 'label', src, ablations=False)
    print(f'Table 4 on the clips ({res["n_videos"]} scored; ground truth: the objects of the clip\'s class in its '
          f'source frames), frames showing such an object:')
    print(evaluation_table(res, 'object frames'))
    print('all frames (a frame without the object counts as background):')
    print(evaluation_table(res, 'all frames'))


def main(argv=None):
    from wsvseg.core import WorldConfig, CrawlConfig, RunDir
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--classes', default=','.join(WorldConfig().classes))
    ap.add_argument('--results', type=int, default=20, help='search results per class')
    ap.add_argument('--off', type=float, default=0.5, help='fraction of each search that is off-class')
    ap.add_argument('--size', default='128x96', help='frame size WxH (the encoder saw the world at 128x96)')
    ap.add_argument('--frames', type=int, default=60)
    ap.add_argument('--fps', type=int, default=10)
    ap.add_argument('--gop', type=int, default=10, help='frames between key-frames of the served mp4s')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--checkpoint', help='score with this encoder instead of the stamps')
    ap.add_argument('--threshold', type=float, default=0.8, help='thumbnail_threshold and keyframe_threshold')
    ap.add_argument('--max-keyframes', type=int, default=15)
    ap.add_argument('--clip-seconds', type=float, default=0.4, help='±seconds around a key-frame (§4: 2 s)')
    ap.add_argument('--broken', action='store_true', help='also serve the broken entries of the tests')
    ap.add_argument('--label', action='store_true', help='then label the clips (needs --checkpoint) and score the '
                    'masks against the served videos\' masks like Table 4')
    ap.add_argument('--label-clips', type=int, default=0, help='label only this many clips per class (0: all)')
    ap.add_argument('--workers', type=int, default=2, help='labelling processes')
    ap.add_argument('--out', help='keep the site and the run here (default: a temporary folder, removed)')
    a = ap.parse_args(argv)
    if a.label and not a.checkpoint: ap.error('--label needs --checkpoint')
    from crawlsite import build_site, default_layout, serve_site
    from wsvseg.crawl import crawl
    classes = a.classes.split(',')
    off = int(round(a.results * a.off))
    W, H = (int(x) for x in a.size.lower().split('x'))
    tmp = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix='crawl_bench_'))
    try:
        t = time.time()
        spec = build_site(tmp / 'site', classes, default_layout(classes, a.results - off, off, broken=a.broken),
                          size=(W, H), frames=a.frames, fps=a.fps, gop=a.gop, seed=a.seed)
        t_build = time.time() - t
        score = encoder_score(a.checkpoint, classes) if a.checkpoint else spec.scorer()
        cfg = CrawlConfig(max_videos=a.results + 2, min_duration=0.0, max_duration=600.0,
                          thumbnail_threshold=a.threshold, keyframe_threshold=a.threshold, max_height=480,
                          sleep_interval=0.0, max_sleep_interval=0.0, sleep_requests=0.0,
                          max_keyframes=a.max_keyframes, clip_seconds=a.clip_seconds, socket_timeout=2.0)
        with serve_site(spec, slow_seconds=3.0) as site:
            cfg.source = site.template('search')
            t = time.time()
            m = crawl(score, classes, RunDir(tmp / 'run'), cfg, log=lambda *x, **k: None)
            wall = time.time() - t
            site.check_loopback()
            hits = site.hits.copy()
        listed = [v for v in spec.videos]
        got = [v for v in listed if hits[v.media] > 0]
        on = [v for v in listed if v.cls == v.query]
        tp = [v for v in got if v.cls == v.query]
        clips = sorted((tmp / 'run' / 'crawl' / 'clips').glob('*/*.mp4'))
        from wsvseg.data import video_info
        clip_s = sum(video_info(p).duration or 0 for p in clips)
        per = {c: m['classes'].get(c, {}) for c in classes}
        kf = sum(per[c].get('keyframes_kept', 0) for c in classes)
        ok = sum(per[c].get('downloaded', 0) for c in classes)
        secs = m['phases']
        n = len(listed)
        print(f'site: {len(classes)} classes x {a.results} results ({off} off-class), {W}x{H}, {a.frames} frames at '
              f'{a.fps} fps, key-frame every {a.gop} frames; built in {t_build:.1f} s; scoring: '
              f'{"encoder " + a.checkpoint if a.checkpoint else "stamps (exact)"}')
        print(f'thumbnail filter (threshold {a.threshold}): downloaded {len(got)} of {n}; precision '
              f'{len(tp) / max(1, len(got)):.3f} ({len(tp)}/{len(got)} on-class), recall '
              f'{len(tp) / max(1, len(on)):.3f} ({len(tp)}/{len(on)} on-class results)')
        fp = [v for v in got if v.cls != v.query]
        shows = [v for v in fp if spec.masks(v.name, v.query).any()]
        print(f'  of the {len(fp)} off-class videos downloaded, {len(shows)} show an object of the query class (an '
              f'"other" object); precision counting those: {(len(tp) + len(shows)) / max(1, len(got)):.3f}')
        print(f'key-frames kept: {kf} over {ok} downloaded videos = {kf / max(1, ok):.2f} per video '
              f'(max {a.max_keyframes}, {len(range(0, a.frames, a.gop))} key-frames per video)')
        print('seconds per listed result: ' + ', '.join(f'{k} {v / n:.4f}' for k, v in secs.items()))
        print('seconds per downloaded video: ' + ', '.join(f'{k} {secs[k] / max(1, ok):.4f}'
                                                           for k in ('download', 'keyframes', 'clips')))
        print('seconds in all: ' + ', '.join(f'{k} {v:.2f}' for k, v in secs.items()))
        print(f'clips written: {len(clips)} ({clip_s:.1f} s of video); crawl wall time {wall:.1f} s; '
              f'failed: {len(m.get("failed", {}))}; requests: {sum(hits.values())}, all from 127.0.0.1')
        from wsvseg.crawl import crawl_table
        print(crawl_table(m, 'text'))
        if a.label: label_clips(spec, tmp, a)
    finally:
        if not a.out: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
