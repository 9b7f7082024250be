"""Render the result tables of the README (via nbs/index.ipynb) and of the notebooks from runs' results.json.

The committed copies `data/results-<run>.json` come from `make demo` (run `demo`) and `make demo-photo` (run `photo`),
see data/README.md. Each table sits in a markdown cell between `<!-- results:NAME -->` (from the demo run) or
`<!-- results:RUN.NAME -->` (from run RUN) and `<!-- /results -->`; this script rewrites what is between them and
nothing else.

    python tools/results.py                         # render from data/results-*.json into the notebooks, then README.md
    python tools/results.py --from RUN [--as NAME]  # first copy RUN/results.json to data/results-NAME.json (NAME: demo)
    python tools/results.py --check                 # exit 1 if a rendered table differs from what is committed
"""
import json, re, shutil, subprocess, sys, textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT/'data'
TARGETS = [ROOT/'nbs'/'index.ipynb', ROOT/'nbs'/'07_segment.ipynb', ROOT/'nbs'/'03_encoder.ipynb', ROOT/'nbs'/'11_cli.ipynb']

def results_file(run: str = 'demo') -> Path: return DATA/f'results-{run}.json'
PICTURE, PICTURE_LINK = ROOT/'nbs'/'images'/'demo-segment.jpg', 'images/demo-segment.jpg'   # the README's picture

def copy_picture(run: Path, rows: int = 3):
    "The top `rows` rows of the run report's segmentation figure as the README's picture (rows split at white gaps)."
    import numpy as np
    from PIL import Image
    pic = Image.open(run/'report'/'segment-examples.jpg').convert('RGB')
    im = np.asarray(pic.convert('L'))
    ink = (im < 235).mean(1) > 0.01                           # lines that hold some of a row's pictures
    starts = np.flatnonzero(ink[1:] & ~ink[:-1]) + 1          # where a block of ink begins after white
    ends = np.flatnonzero(ink[:-1] & ~ink[1:]) + 1
    cut = ends[ends > starts[min(rows, len(starts) - 1)]][0] if len(starts) > rows else len(im)
    pic.crop((0, 0, im.shape[1], int(cut) + 4)).save(PICTURE, quality=88)
    shutil.copyfile(run/'report'/'segment-examples.jpg', ROOT/'nbs'/'images'/'world-segment-examples.jpg')  # 07_segment
BLOCK = re.compile(r'(<!-- results:([\w.]+) -->\n)(.*?)(<!-- /results -->)', re.S)   # NAME or RUN.NAME

def _pct(v): return '—' if v is None else f'{100 * v:.1f}'
def _minutes(res: dict) -> float: return sum(x for x in res['wall_s'].values() if x) / 60   # the stages' wall_s

def table1(res: dict) -> str:
    "Table 1 of the run: per-class IoU and mIoU (%) of every row, and where the baseline's threshold came from."
    rows = res['table1']
    names = list(next(iter(rows.values()))['iou'])
    short = {'background': 'bkg', 'aeroplane': 'aero'}
    head = '| method | ' + ' | '.join(short.get(n, n) for n in names) + ' | mIoU |'
    lines, notes = [head, '|---|' + '--:|' * (len(names) + 1)], []
    for k, r in rows.items():
        label = f"{k} (t = {r['threshold']})" if 'threshold' in r else k
        lines.append(f'| {label} | ' + ' | '.join(_pct(r['iou'][n]) for n in names) + f" | {_pct(r['miou'])} |")
        if 'threshold' in r:        # runs before the threshold was chosen apart from the test split: best on test
            notes.append(f"{k}: t chosen on {r.get('threshold_from', 'the test images themselves (best on test)')}.")
    return '\n'.join(lines + [''] * bool(notes) + notes)

def _attention_row(p: dict) -> dict:
    "The thresholded-attention row of a video protocol: threshold from the tuning videos (or, in older runs, the best)."
    return p['rows'].get('attention (threshold from tuning)') or p['rows']['attention (best threshold)']

def videoseg(res: dict, protocol: str = 'object frames') -> str:
    "The video labelling rows of one protocol (Table 4 style, %)."
    p = res['videoseg']['protocols'][protocol]
    lines = ['| method | class average | video average |', '|---|--:|--:|']
    for k, r in p['rows'].items(): lines.append(f"| {k} | {_pct(r['class_average'])} | {_pct(r['video_average'])} |")
    return '\n'.join(lines)

def demo(res: dict) -> str:
    "The README's summary of a demo run."
    e, v, t = res['encoder'], res['videoseg'], res['table1']
    p = v['protocols']['object frames']
    full, att = p['rows']['full energy'], _attention_row(p)
    dec, ceil = t['decoder (video masks)']['miou'], t.get('ceiling (image GT masks)', {}).get('miou')
    lines = [f"- **Encoder (§3.1):** test mAP {e['mAP']:.4f}.",
             f"- **Video labelling (§3.2):** on the {v['n_videos']} videos not used for calibration, object frames "
             f"({p['n_frames']}), the graph cut scores {_pct(full['class_average'])} class-average IoU against "
             f"{_pct(att['class_average'])} for attention thresholded at {att.get('threshold')} "
             f"({'chosen on the tuning videos' if 'threshold_from' in att else 'its best threshold'}).",
             '- **Table 1 (§5.2.1)**, test images, IoU (%) per class and mIoU:', '', table1(res), '']
    if ceil: lines.append(f'The decoder reaches {100 * dec / ceil:.0f}% of the ceiling; the stages took {_minutes(res):.1f} minutes '
                          'of wall time in all (the sum of their `wall_s`).')
    return '\n'.join(lines)

def setup(res: dict) -> str:
    "What the demo run measured before Table 1: its wall time, the encoder, the video labelling and the filter."
    e, v = res['encoder'], res['videoseg']
    p, f = v['protocols']['object frames'], v['filter']
    full, att = p['rows']['full energy'], _attention_row(p)
    return (f"The run took {_minutes(res):.1f} minutes of stage time on 2 CPU cores. Encoder: test mAP {e['mAP']:.4f}. Video "
            f"masks: on the {v['n_videos']} videos not used for calibration, the graph cut scores "
            f"{_pct(full['class_average'])} class-average IoU on the {p['n_frames']} object frames (attention at its best "
            f"threshold: {_pct(att['class_average'])}); the filter keeps {_pct(f['relevant_kept'])}% of the relevant frames "
            f"and rejects {_pct(f['irrelevant_rejected'])}% of the irrelevant ones. The baseline's best test threshold: "
            f"{res['table1']['thresholded attention'].get('threshold')}.")

def bars(res: dict) -> str:
    "The Table 1 bars (bench/table1_bars.py) on the demo run, as a list."
    sys.path.insert(0, str(ROOT/'bench'))
    from table1_bars import bars as _bars
    return '\n'.join(f"- {name}: {value}, {'met' if met else '**missed**'}." for name, value, met in _bars(res['table1']))

def photo(res: dict) -> str:
    "The README's summary of the photo run: the world, the encoder's attention, the video labelling, stage times."
    e, v, w = res['encoder'], res['videoseg'], res.get('world', {})
    a, p = e.get('attention', {}), v['protocols']['object frames']
    full, att = p['rows']['full energy'], _attention_row(p)
    times = ', '.join(f'{k} {x / 60:.1f}' for k, x in res['wall_s'].items() if x)
    lines = [f"- **World:** {len(w.get('classes', []))} classes ({', '.join(w.get('classes', []))}), "
             f"{w.get('counts', {}).get('images_train')} train and {w.get('counts', {}).get('images_test')} test images, "
             f"{w.get('counts', {}).get('videos')} videos, {'×'.join(map(str, w.get('size', [])))} pixels.",
             f"- **Encoder (§3.1):** test mAP {e['mAP']:.3f}; the attention's peak falls inside the object for "
             f"{_pct(a.get('peak_in_object'))}% of the {a.get('n_objects')} test objects"
             + (f" and inside its most discriminative region for {_pct(a['peak_in_part'])}%" if 'peak_in_part' in a else '')
             + f"; thresholded, it covers {_pct(a.get('whole_covered_at_best'))}% of an object at whole-object IoU "
             f"{_pct(a.get('whole_iou_at_best'))} (best threshold on the test objects, {a.get('best_threshold')}: a "
             "diagnostic, not a result).",
             f"- **Video labelling (§3.2):** on the {v['n_videos']} videos not used for tuning, object frames "
             f"({p['n_frames']}), the graph cut scores {_pct(full['class_average'])} class-average IoU against "
             f"{_pct(att['class_average'])} for attention thresholded at {att.get('threshold')} (chosen on the tuning "
             "videos); each unary left out:", '', videoseg(res), '',
             '- **Table 1 (§5.2.1)**, test images, IoU (%) per class and mIoU:', '', table1(res), '',
             f'Minutes per stage: {times}; {_minutes(res):.1f} in all.']
    return '\n'.join(lines)

def photo_bars(res: dict) -> str:
    "The photo run's bars (bench/table1_bars.py), as a list."
    sys.path.insert(0, str(ROOT/'bench'))
    from table1_bars import photo_bars as _bars
    return '\n'.join(f"- {name}: {value}, {'met' if met else '**missed**'}." for name, value, met in _bars(res))

def photo_why(res: dict) -> str:
    "Where the photo run's bars are missed, what its own numbers say about why."
    e, v, t = res['encoder'], res['videoseg'], res['table1']
    a, f = e.get('attention', {}), v['filter']
    kept = v['protocols']['kept frames']['rows']
    full_k, att_k = kept['full energy']['class_average'], _attention_row({'rows': kept})['class_average']
    obj = v['protocols']['object frames']['rows']
    mi = {k: r['miou'] for k, r in t.items()}
    gt, base = mi.get('decoder (GT video masks)'), mi['thresholded attention']
    dec, da, ceil = mi['decoder (video masks)'], mi.get('decoder + DA'), mi.get('ceiling (image GT masks)')
    bird = {k: r['iou'].get('bird') for k, r in t.items()}
    lines = [f"- **The attention is not confined to a part.** At its best threshold it covers {_pct(a.get('whole_covered_at_best'))}% "
             f"of each object (whole-object IoU {_pct(a.get('whole_iou_at_best'))}), and its peak falls inside the region the "
             f"ImageNet classifier finds most telling for only {_pct(a.get('peak_in_part'))}% of the objects; so thresholded "
             f"attention is already a strong baseline ({_pct(base)} mIoU) and leaves the decoder less to add.",
             f"- **The filter drops object frames.** It keeps {_pct(f['relevant_kept'])}% of the frames that show "
             "the query object (the frames are filmed at half resolution and compressed, and their class scores fall), and "
             "the object-frames protocol counts a dropped frame as empty for both methods. On the kept frames the graph cut "
             f"scores {_pct(full_k)} against {_pct(att_k)} for attention ({100 * (full_k - att_k):+.1f}).",
             f"- **What each unary term adds** (object frames): leaving out C costs "
             f"{100 * (obj['full energy']['class_average'] - obj['without C']['class_average']):.1f} points, A "
             f"{100 * (obj['full energy']['class_average'] - obj['without A']['class_average']):.1f}, M "
             f"{100 * (obj['full energy']['class_average'] - obj['without M']['class_average']):.1f}."]
    if gt is not None:
        lines.append(f"- **Video frames teach still images only so much.** Trained on the videos' true masks, the decoder "
                     f"reaches {_pct(gt)} ({100 * (gt - base):+.1f} over attention); the labeller's masks cost "
                     f"{100 * (gt - dec):.1f} more, and domain adaptation wins back {100 * (da - dec):.1f}. Trained on the "
                     f"images' own masks (the ceiling) it reaches {_pct(ceil)}.")
    lines.append(f"- **Unseen birds.** The test birds are species that training never saw; their class is found with "
                 f"AP {e['AP'].get('bird', float('nan')):.2f}, and even the ceiling scores {_pct(bird.get('ceiling (image GT masks)'))} "
                 f"IoU on birds (attention {_pct(bird.get('thresholded attention'))}, decoder {_pct(bird.get('decoder (video masks)'))}).")
    return '\n'.join(lines)

def headline(res: dict) -> str:
    "The README's opening: the demo report's picture (copied by --from) and Table 1 in the paper's layout (§5.2.1)."
    from wsvseg.report import table1 as paper_table1
    alt = 'Test images: ground truth, attention map, thresholded attention, decoder, decoder + DA'
    return (f"![{alt}]({PICTURE_LINK})\n\n"
            f"Table 1 of `make demo` (mIoU %, {res['world']['counts']['images_test']} test images of the built-in world, "
            f"{_minutes(res):.1f} minutes on 2 CPU cores):\n\n" + paper_table1(res['table1'], res.get('inputs', {})))

def times(res: dict) -> str:
    "How long the run took: its stages' `wall_s`, the longest first (the README's and `11_cli`'s time lines)."
    wall = {k: x for k, x in res['wall_s'].items() if x}
    make = 'make demo' if res.get('world', {}).get('kind', 'shapes') == 'shapes' else 'make demo-photo'
    big = sorted(((x, k) for k, x in wall.items() if x >= 30), reverse=True)
    small = max((x for x in wall.values() if x < 30), default=0)
    return (f"- `{make}`: {sum(wall.values()) / 60:.1f} minutes of stage time on 2 CPU cores; "
            + ', '.join(f'{k} {x / 60:.1f}' for x, k in big) + f' minutes; the rest under {small:.0f} s each.')

RENDER = {'headline': headline, 'times': times, 'table1': table1, 'videoseg': videoseg, 'demo': demo, 'setup': setup, 'bars': bars,
          'photo': photo,
          'photo_bars': photo_bars, 'photo_why': photo_why}

def _wrap(text: str, width: int = 120) -> str:
    "Markdown prose and list items wrapped at `width` characters (notebook lines stay short); tables left alone."
    out = []
    for line in text.split('\n'):
        if len(line) <= width or line.startswith('|'): out.append(line); continue
        lead = '- ' if line.startswith('- ') else ''
        out += textwrap.wrap(line[len(lead):], width, initial_indent=lead, subsequent_indent=' ' * len(lead),
                             break_long_words=False, break_on_hyphens=False)
    return '\n'.join(out)

def _block(name: str, runs: dict) -> str:
    "What block NAME or RUN.NAME holds: renderer NAME on run RUN's results (the demo's without RUN)."
    run, _, what = name.rpartition('.')
    run = run or 'demo'
    if run not in runs: runs[run] = json.loads(results_file(run).read_text())
    return _wrap(RENDER[what](runs[run]).rstrip('\n'))

def render_text(text: str, runs: dict) -> str:
    "`text` with every results block rendered from `runs` ({run: results}, filled from data/ as needed)."
    return BLOCK.sub(lambda m: m.group(1) + _block(m.group(2), runs) + '\n' + m.group(4), text)

def render(runs: dict | None = None, check: bool = False) -> list:
    "Rewrite every results block of the target notebooks; returns the notebooks that changed (or would change)."
    changed = []
    for nb_path in TARGETS:
        nb = json.loads(nb_path.read_text())
        dirty = False
        for c in nb['cells']:
            if c['cell_type'] != 'markdown': continue
            src = ''.join(c['source'])
            new = render_text(src, runs if runs is not None else {})
            if new != src: c['source'], dirty = new.splitlines(keepends=True), True
        if dirty:
            changed.append(nb_path)
            if not check: nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return changed

if __name__ == '__main__':
    args = sys.argv[1:]
    name = args[args.index('--as') + 1] if '--as' in args else 'demo'
    if '--from' in args:
        shutil.copyfile(Path(args[args.index('--from') + 1])/'results.json', results_file(name))
        if name == 'demo': copy_picture(Path(args[args.index('--from') + 1]))
    changed = render({}, check='--check' in args)
    if '--check' in args:
        if changed: sys.exit('results tables out of date with data/results-*.json: ' + ', '.join(p.name for p in changed)
                             + '; run python tools/results.py')
    else:
        subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py')], check=True)
        print('rendered:', ', '.join(p.name for p in changed) or 'nothing changed')
