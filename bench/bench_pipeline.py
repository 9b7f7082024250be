"""Wall time of every stage of the pipeline, and labelling's frames/s with the network included, on this machine.

Runs `wsvseg-run`'s pipeline on a configuration (default: the demo, the whole method on the built-in world) into a
fresh run folder on the device present (`--device auto`: a GPU when there is one), then prints one line per stage
(seconds, share of the total) and the throughputs the stages measured themselves: encoder and decoder training
images/s, labelling frames/s (decode, class scores, filter, attention, graph cut, writing: the whole of §3.2 per video)
and segmentation images/s. The same script measures a GPU machine; it writes everything to RUN/bench.json. Prints,
asserts nothing.

    python bench/bench_pipeline.py [CONFIG] [--run RUN] [--device auto|cpu|cuda] [--quick] [--workers N]
"""
import argparse, json, os, platform, shutil, sys, time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine(device: str) -> str:
    "The device in words: the GPU's name, or the CPU's model and the cores torch may use."
    import torch
    if device.startswith('cuda') and torch.cuda.is_available():
        return f'{torch.cuda.get_device_name(torch.device(device))} (torch {torch.__version__})'
    model = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines()
                  if l.startswith('model name')), platform.processor()) if Path('/proc/cpuinfo').exists() else ''
    return f'CPU {model}, {os.cpu_count()} cores (torch {torch.__version__})'


def throughputs(run: Path) -> dict:
    "The rates the stages measured: training images/s, labelling frames/s, segmentation images/s."
    def metrics(stage):
        p = run/stage/'metrics.json'
        return json.loads(p.read_text()) if p.is_file() else {}
    enc, dec, vs, seg = metrics('encoder'), metrics('decoder'), metrics('videoseg'), metrics('segment')
    out = {}
    if enc.get('epoch_seconds'):
        out['encoder training, images/s'] = enc['n_train'] * len(enc['epoch_seconds']) / sum(enc['epoch_seconds'])
    if dec.get('train_images_per_s'): out['decoder training, images/s'] = dec['train_images_per_s']
    lab = vs.get('label_summary') or vs
    if lab.get('frames_per_s'): out['labelling (network + graph cut), frames/s'] = lab['frames_per_s']
    if seg.get('images_per_s'): out['segmentation (§3.4), images/s'] = seg['images_per_s']
    return out


def main():
    from wsvseg.core import RunDir, preset_config, read_toml_config
    from wsvseg.pipeline import run_pipeline, pipeline_stages
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('config', nargs='?', type=Path, default=ROOT/'wsvseg'/'configs'/'demo.toml',
                    help='a run configuration (default: the demo)')
    ap.add_argument('--run', type=Path, default=None, help='run folder, made afresh (default runs/bench-<device>)')
    ap.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N' (ComputeConfig.device)")
    ap.add_argument('--workers', type=int, default=None, help='labelling processes (default: the configuration\'s)')
    ap.add_argument('--quick', action='store_true', help="the 'quick' preset's world instead (a smoke test)")
    a = ap.parse_args()
    import torch
    device = ('cuda' if torch.cuda.is_available() else 'cpu') if a.device == 'auto' else a.device
    cfg = preset_config('quick') if a.quick else read_toml_config(a.config)
    cfg = replace(cfg, compute=replace(cfg.compute, device=device, progress=False,
                                       workers=a.workers or cfg.compute.workers))
    run = a.run or ROOT/'runs'/f'bench-{device.replace(":", "")}{"-quick" if a.quick else ""}'
    if run.exists(): shutil.rmtree(run)
    print(f'pipeline bench: {"quick preset" if a.quick else a.config}, device {device}: {machine(device)}; '
          f'{cfg.compute.workers} labelling worker(s), {torch.get_num_threads()} torch threads', flush=True)
    t0 = time.perf_counter()
    run_pipeline(cfg, RunDir(run), log=lambda *m: print(*m, flush=True))
    total = time.perf_counter() - t0
    rd = RunDir(run, create=False)
    secs = {s: json.loads((run/s/'done.json').read_text())['wall_s'] for s in pipeline_stages(cfg) if rd.is_done(s)}
    print(f'\n{"stage":12s} {"seconds":>9s} {"share":>6s}')
    for s, v in secs.items(): print(f'{s:12s} {v:9.1f} {v / total:6.1%}')
    print(f'{"all stages":12s} {sum(secs.values()):9.1f}   (wall {total:.1f} s, {total / 60:.1f} min)')
    rates = throughputs(run)
    for k, v in rates.items(): print(f'{k}: {v:.1f}')
    out = dict(config=str(a.config) if not a.quick else 'quick', device=device, machine=machine(device),
               workers=cfg.compute.workers, torch_threads=torch.get_num_threads(), stage_seconds=secs,
               wall_seconds=round(total, 1), throughputs=rates)
    (run/'bench.json').write_text(json.dumps(out, indent=1) + '\n')
    print(f'written: {run/"bench.json"}')


if __name__ == '__main__':
    main()
