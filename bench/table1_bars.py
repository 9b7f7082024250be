"""The quality bars set for Table 1 (issue 6), checked on a run's results.json; prints each bar and whether it is met.

    python bench/table1_bars.py [RUN_OR_RESULTS_JSON]     # default: data/results-demo.json (the committed demo run)

Bars: the decoder beats thresholded attention by >= 10 mIoU points; the decoder reaches >= 80% of the ceiling (the same
decoder trained on the images' ground-truth masks); domain adaptation does not lose ground. These are our targets for the
built-in world, not the paper's numbers, so they live here and not in the library.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def bars(table1: dict) -> list:
    "(bar, value, met) for each bar that the rows of `table1` allow to check."
    mi = {k: v['miou'] for k, v in table1.items()}
    dec, base = mi.get('decoder (video masks)'), mi.get('thresholded attention')
    ceil, da = mi.get('ceiling (image GT masks)'), mi.get('decoder + DA')
    out = []
    if dec is not None and base is not None:
        out.append(('decoder beats thresholded attention by >= 10 points', f'{100 * (dec - base):+.1f}', dec - base >= 0.10))
    if dec is not None and ceil: out.append(('decoder reaches >= 80% of the ceiling', f'{100 * dec / ceil:.1f}%', dec / ceil >= 0.8))
    if dec is not None and da is not None: out.append(('DA does not lose ground', f'{100 * (da - dec):+.1f}', da >= dec))
    return out

if __name__ == '__main__':
    p = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT/'data'/'results-demo.json'
    if p.is_dir(): p = p/'results.json'
    res = json.loads(p.read_text())
    print(f'Table 1 bars on {p}:')
    for name, value, met in bars(res['table1']): print(f'  {name:<55} {value:>8}  {"met" if met else "MISSED"}')
