"""Notebook shape, as issue 10 measures it: the median export-cell length, definitions per export cell, the share of
lines over 120 characters, and the import graph of the package (module -> wsvseg modules it imports).

    python tools/nbstats.py [--ref GIT_REF]      # the working tree, or the notebooks and package at a commit
"""
import ast, json, re, statistics, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _files(ref, pattern):
    if ref is None: return {p.relative_to(ROOT).as_posix(): p.read_text() for p in sorted(ROOT.glob(pattern))}
    names = subprocess.run(['git', 'ls-tree', '--name-only', ref, pattern.rsplit('/', 1)[0] + '/'], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    suffix = pattern.rsplit('.', 1)[-1]
    return {n: subprocess.run(['git', 'show', f'{ref}:{n}'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
            for n in names if n.endswith('.' + suffix)}

def _defs(src):
    try: tree = ast.parse(re.sub(r'^\s*[%!].*$', '', src, flags=re.M))
    except SyntaxError: return 0
    return sum(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) for n in tree.body)

def shape(ref=None) -> dict:
    "Median export-cell length (lines), definitions per export cell, and the share of notebook lines over 120 characters."
    lengths, defs, lines, long = [], [], 0, 0
    for name, text in _files(ref, 'nbs/*.ipynb').items():
        for c in json.loads(text)['cells']:
            src = ''.join(c['source'])
            ls = src.splitlines(); lines += len(ls); long += sum(len(l) > 120 for l in ls)
            if c['cell_type'] == 'code' and src.startswith('#| export'):
                body = [l for l in ls[1:] if l.strip()]
                lengths.append(len(body)); defs.append(_defs(src))
    return dict(export_cells=len(lengths), median_lines=statistics.median(lengths), mean_defs=round(statistics.mean(defs), 2),
                median_defs=statistics.median(defs), lines_over_120=round(long / max(1, lines), 4))

def import_graph(ref=None) -> dict:
    "{module: sorted wsvseg modules it imports} from the generated package."
    out = {}
    for name, text in _files(ref, 'wsvseg/*.py').items():
        mod = Path(name).stem
        if mod.startswith('_'): continue
        deps = set()
        for n in ast.walk(ast.parse(text)):
            if isinstance(n, ast.ImportFrom) and n.module is not None and (n.level == 1 or n.module.startswith('wsvseg.')):
                deps.add(n.module.removeprefix('wsvseg.'))
            elif isinstance(n, ast.ImportFrom) and n.level == 1 and n.module is None: deps.update(a.name for a in n.names)
        out[mod] = sorted(deps - {mod})
    return out

if __name__ == '__main__':
    ref = sys.argv[sys.argv.index('--ref') + 1] if '--ref' in sys.argv else None
    print(json.dumps(dict(shape=shape(ref), imports=import_graph(ref)), indent=1))
