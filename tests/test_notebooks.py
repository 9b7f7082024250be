"""Every notebook in `nbs/` runs top to bottom (`nbdev-test`), one pytest test each, so that the
closing count covers the notebooks too."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))


@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook_runs(nb, request):
    exe = Path(sys.executable).with_name('nbdev-test')
    cmd = [str(exe) if exe.exists() else 'nbdev-test', str(nb), '--n-workers', '0']
    if request.config.getoption('--run-slow'): cmd += ['--flags', 'slow']
    env = {**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1')}
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, f'{nb.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}'
