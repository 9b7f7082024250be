"""Table 1 with its spread over seeds: the stages after the encoder, run again for each of three decoder seeds.

    python bench/seeds.py [--run runs/demo] [--seeds 0 1 2] [--out runs/seeds] [--config FILE.toml]

The encoder is trained once (two trainings with one seed give bit-identical weights) and the labeller has no seed, so
each seed's run starts from the finished run's `world`, `encoder` and `videoseg` stages (copied; the world linked).
`[decoder] seed` seeds the decoder, domain adaptation and every decoder of the ablation; the decoder, adapt, segment
and ablation stages then run with `wsvseg.pipeline.run_pipeline`. A seed equal to the run's own is read from the run
itself. Prints every Table 1 row per seed and as mean ± spread (max − min), and writes OUT/seeds.json.

`--config` judges a change to the stages after the encoder (e.g. the decoder's epochs or schedule): the seeds run with
that TOML's `decoder`, `segment`, `adapt`, `ablation` and `eval` settings on the run's encoder and video masks (the
file must agree with the run on every other stage's settings), and every seed is rerun, the run's own included.
"""
import argparse, json, shutil, sys, time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AFTER = ('decoder', 'adapt', 'segment', 'ablation')    # the stages a decoder seed changes


LATER = ('decoder', 'segment', 'adapt', 'ablation', 'eval')    # the settings those stages read


def seeds_config(src: Path, toml: Path):
    "`toml`'s configuration, its settings of the stages before the decoder checked against the run's."
    from wsvseg.core import load_config, read_toml_config, config_diff
    cfg, new = load_config(src/'config.json'), read_toml_config(toml)
    if bad := [d for d in config_diff(cfg, new) if d.split('.')[0] not in LATER + ('compute',)]:
        sys.exit(f'{toml}: differs from {src} before the decoder ({"; ".join(bad)}); run it with wsvseg-run instead')
    return new


def seed_run(src: Path, out: Path, seed: int, cfg=None) -> dict:
    "Table 1's rows ({row: mIoU}) of `src` rerun from its labelled videos with decoder seed `seed` (and `cfg`) in `out`."
    from wsvseg.core import RunDir, load_config
    from wsvseg.pipeline import run_pipeline
    if cfg is None:                                   # the run's own settings: its own seed is read, not rerun
        cfg = load_config(src/'config.json')
        if seed == cfg.decoder.seed: return _rows(src)
    out.mkdir(parents=True, exist_ok=True)
    if not (out/'world').exists(): (out/'world').symlink_to((src/'world').resolve(), target_is_directory=True)
    for stage in ('reference', 'encoder', 'videoseg', 'tune'):
        if (src/stage).exists() and not (out/stage).exists(): shutil.copytree(src/stage, out/stage, symlinks=True)
    cfg = replace(cfg, decoder=replace(cfg.decoder, seed=seed))
    run_pipeline(cfg, RunDir(out), stages=AFTER, log=lambda *a: print(f'[seed {seed}]', *a, flush=True))
    return _rows(out)


def _rows(run: Path) -> dict:
    m = json.loads((run/'ablation'/'metrics.json').read_text())
    return {k: r['miou'] for k, r in m['rows'].items()}


def spread_table(per_seed: dict) -> str:
    "Each row's mIoU (%) per seed, then mean ± spread (max − min)."
    seeds = list(per_seed)
    rows = list(next(iter(per_seed.values())))
    head = '| row | ' + ' | '.join(f'seed {s}' for s in seeds) + ' | mean ± spread |'
    lines = [head, '|---|' + '--:|' * (len(seeds) + 1)]
    for r in rows:
        v = 100 * np.array([per_seed[s][r] for s in seeds])
        lines.append(f'| {r} | ' + ' | '.join(f'{x:.1f}' for x in v) + f' | {v.mean():.1f} ± {v.max() - v.min():.1f} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', type=Path, default=ROOT/'runs'/'demo', help='a finished run (default runs/demo)')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'seeds', help='where the seeds\' runs go')
    ap.add_argument('--config', type=Path, help='a TOML whose decoder/adapt/ablation settings the seeds run with')
    a = ap.parse_args()
    if not (a.run/'ablation'/'done.json').exists(): sys.exit(f'{a.run}: no finished run (make demo makes runs/demo)')
    cfg = seeds_config(a.run, a.config) if a.config else None
    t0, per_seed = time.perf_counter(), {}
    for s in a.seeds: per_seed[s] = seed_run(a.run, a.out/f'seed-{s}', s, cfg)
    print(spread_table(per_seed))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out/'seeds.json').write_text(json.dumps({'run': str(a.run), 'config': a.config and str(a.config),
                                                'rows': per_seed}, indent=2))
    print(f'{len(a.seeds)} seeds in {(time.perf_counter() - t0) / 60:.1f} min; {a.out/"seeds.json"}')
