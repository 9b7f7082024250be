"""Render the result tables of the README (via nbs/index.ipynb) and of the notebooks from a run's results.json.

The committed copy `data/results-demo.json` comes from `make demo` (see data/README.md). Each table sits in a markdown
cell between `<!-- results:NAME -->` and `<!-- /results -->`; this script rewrites what is between them and nothing else.

    python tools/results.py                   # render from data/results-demo.json into the notebooks, then README.md
    python tools/results.py --from RUN        # first copy RUN/results.json to data/results-demo.json
    python tools/results.py --check           # exit 1 if a rendered table differs from what is committed
"""
import json, re, shutil, subprocess, sys, textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT/'data'/'results-demo.json'
TARGETS = [ROOT/'nbs'/'index.ipynb', ROOT/'nbs'/'07_segment.ipynb']
BLOCK = re.compile(r'(<!-- results:(\w+) -->\n)(.*?)(<!-- /results -->)', re.S)

def _pct(v): return '—' if v is None else f'{100 * v:.1f}'

def table1(res: dict) -> str:
    "Table 1 of the run: per-class IoU and mIoU (%) of every row."
    rows = res['table1']
    names = list(next(iter(rows.values()))['iou'])
    short = {'background': 'bkg', 'aeroplane': 'aero'}
    head = '| method | ' + ' | '.join(short.get(n, n) for n in names) + ' | mIoU |'
    lines = [head, '|---|' + '--:|' * (len(names) + 1)]
    for k, r in rows.items():
        label = f"{k} (t = {r['threshold']}, best on test)" if 'threshold' in r else k
        lines.append(f'| {label} | ' + ' | '.join(_pct(r['iou'][n]) for n in names) + f" | {_pct(r['miou'])} |")
    return '\n'.join(lines)

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
    full, att = p['rows']['full energy'], p['rows']['attention (best threshold)']
    dec, ceil = t['decoder (video masks)']['miou'], t.get('ceiling (image GT masks)', {}).get('miou')
    wall = sum(x for x in res['wall_s'].values() if x)
    lines = [f"- **Encoder (§3.1):** test mAP {e['mAP']:.4f}.",
             f"- **Video labelling (§3.2):** on the {v['n_videos']} videos not used for calibration, object frames "
             f"({p['n_frames']}), the graph cut scores {_pct(full['class_average'])} class-average IoU against "
             f"{_pct(att['class_average'])} for attention at its best threshold.",
             '- **Table 1 (§5.2.1)**, test images, IoU (%) per class and mIoU:', '', table1(res), '']
    if ceil: lines.append(f'The decoder reaches {100 * dec / ceil:.0f}% of the ceiling; the stages took {wall / 60:.1f} minutes '
                          'of wall time in all (the sum of their `wall_s`).')
    return '\n'.join(lines)

def setup(res: dict) -> str:
    "What the demo run measured before Table 1: its wall time, the encoder, the video labelling and the filter."
    e, v = res['encoder'], res['videoseg']
    p, f = v['protocols']['object frames'], v['filter']
    full, att = p['rows']['full energy'], p['rows']['attention (best threshold)']
    wall = sum(x for x in res['wall_s'].values() if x)
    return (f"The run took {wall / 60:.1f} minutes of stage time on 2 CPU cores. Encoder: test mAP {e['mAP']:.4f}. Video "
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

RENDER = {'table1': table1, 'videoseg': videoseg, 'demo': demo, 'setup': setup, 'bars': bars}

def _wrap(text: str, width: int = 120) -> str:
    "Markdown prose and list items wrapped at `width` characters (notebook lines stay short); tables left alone."
    out = []
    for line in text.split('\n'):
        if len(line) <= width or line.startswith('|'): out.append(line); continue
        lead = '- ' if line.startswith('- ') else ''
        out += textwrap.wrap(line[len(lead):], width, initial_indent=lead, subsequent_indent=' ' * len(lead),
                             break_long_words=False, break_on_hyphens=False)
    return '\n'.join(out)

def render_text(text: str, res: dict) -> str:
    return BLOCK.sub(lambda m: m.group(1) + _wrap(RENDER[m.group(2)](res).rstrip('\n')) + '\n' + m.group(4), text)

def render(res: dict, check: bool = False) -> list:
    "Rewrite every results block of the target notebooks; returns the notebooks that changed (or would change)."
    changed = []
    for nb_path in TARGETS:
        nb = json.loads(nb_path.read_text())
        dirty = False
        for c in nb['cells']:
            if c['cell_type'] != 'markdown': continue
            src = ''.join(c['source'])
            new = render_text(src, res)
            if new != src: c['source'], dirty = new.splitlines(keepends=True), True
        if dirty:
            changed.append(nb_path)
            if not check: nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return changed

if __name__ == '__main__':
    args = sys.argv[1:]
    if '--from' in args: shutil.copyfile(Path(args[args.index('--from') + 1])/'results.json', RESULTS)
    res = json.loads(RESULTS.read_text())
    changed = render(res, check='--check' in args)
    if '--check' in args:
        if changed: sys.exit(f'results tables out of date with {RESULTS.name}: ' + ', '.join(p.name for p in changed)
                             + '; run python tools/results.py')
    else:
        subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py')], check=True)
        print('rendered:', ', '.join(p.name for p in changed) or 'nothing changed')
