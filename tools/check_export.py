"""Fail if `nbdev-export` changes the generated package: `wsvseg/*.py` must be what the notebooks export.

On a clean clone (CI) the package on disk is the committed one, so this checks that what is committed
is what the notebooks generate. Run from the repository root."""
import hashlib, subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
lib = root/'wsvseg'

def snapshot():
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lib.rglob('*.py'))}

before = snapshot()
exe = Path(sys.executable).with_name('nbdev-export')
subprocess.run([str(exe) if exe.exists() else 'nbdev-export'], cwd=root, check=True)
after = snapshot()
changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
added, removed = sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys())
if changed or added or removed:
    for k in changed: print(f'check_export: {k} differs from what the notebooks export')
    for k in added: print(f'check_export: {k} is exported by a notebook but was not in the package')
    for k in removed: print(f'check_export: {k} vanished on export')
    print('check_export: run `nbdev-export` and commit wsvseg/ together with the notebooks')
    sys.exit(1)
print(f'check_export: {len(after)} generated modules match the notebooks')
