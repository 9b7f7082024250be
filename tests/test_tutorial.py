"""The notebooks as a tutorial: opened in Jupyter and run top to bottom ("Run All"), every notebook finishes without an
error on a machine without a GPU. A Jupyter kernel knows nothing of nbdev's test flags: `#| slow`, `#| cuda` and
`#| eval: false` cells run like any other, so GPU cells skip themselves (`core.has_gpu`) and cells that read a demo
run say how to make it when it is missing (`core.find_run`).

Each notebook runs as a reader runs it: a Jupyter kernel of this environment's python (nbclient), started in `nbs/`.
It runs in a copy of the project's layout (pyproject.toml, nbs/ and wsvseg/ copied; runs/ and data/ linked), so that
nothing is written back into the checkout: neither the outputs nor what the closing `nbdev_export()` cell exports.
All of them took 13 minutes on 2 CPU cores (up to 20 when other jobs share the cores), nearly all of it in the slow
cells of 03_encoder and 05a_label, which train the world's encoder; `-s` prints each notebook's time:

    python -m pytest tests/test_tutorial.py --run-slow -p no:xdist -s     # or -n 2
"""
import re, shutil, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
ANSI = re.compile(r'\x1b\[[0-9;]*m')


def _project_copy(dest: Path) -> Path:
    "The project's layout under `dest`: what a notebook reads and writes; returns the copy's nbs/."
    shutil.copy2(ROOT/'pyproject.toml', dest/'pyproject.toml')
    ignore = shutil.ignore_patterns('.ipynb_checkpoints', '__pycache__', '_proc', '_docs')
    for d in ('nbs', 'wsvseg'): shutil.copytree(ROOT/d, dest/d, ignore=ignore)
    for d in ('runs', 'data'):
        if (ROOT/d).exists(): (dest/d).symlink_to(ROOT/d, target_is_directory=True)
    return dest/'nbs'


def run_notebook(path: Path, cwd: Path, timeout: int = 900):
    "Run the notebook at `path` in a kernel started in `cwd`, in memory: (notebook, seconds, error message or None)."
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    nb = nbformat.read(path, as_version=4)
    at = {}
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(cwd)}},
                            on_cell_start=lambda cell, cell_index: at.update(i=cell_index))
    t0 = time.perf_counter()
    try: client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        i = at.get('i')
        src = nb.cells[i].source if i is not None else '(none: the kernel did not start)'
        msg = f'{path.name}: cell {i} raised {type(e).__name__}\n--- cell {i} ---\n{src[:2000]}\n--- error ---\n'
        return nb, time.perf_counter() - t0, msg + ANSI.sub('', str(e))[-6000:]
    return nb, time.perf_counter() - t0, None


def cell_seconds(nb) -> list:
    "[(seconds, cell index, first line)] of the executed code cells, slowest first (from nbclient's timing metadata)."
    from datetime import datetime
    out = []
    for i, c in enumerate(nb.cells):
        ex = c.get('metadata', {}).get('execution', {})
        a, b = ex.get('iopub.execute_input'), ex.get('shell.execute_reply')
        if a and b:
            t = (datetime.fromisoformat(b.replace('Z', '+00:00')) - datetime.fromisoformat(a.replace('Z', '+00:00')))
            out.append((t.total_seconds(), i, c.source.split('\n')[0][:60]))
    return sorted(out, reverse=True)


def test_kernel_is_this_python(tmp_path):
    "The kernel the notebooks run in is this environment's python (jupyter_client maps the kernelspec's `python`)."
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('import sys; print(sys.prefix)')])
    p = tmp_path/'k.ipynb'; nbformat.write(nb, p)
    nb, _, err = run_notebook(p, tmp_path, timeout=60)
    assert err is None, err
    assert nb.cells[0].outputs[0]['text'].strip() == sys.prefix


@pytest.mark.slow
@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook_runs_as_a_tutorial(nb, tmp_path, request):
    nbs = _project_copy(tmp_path)
    out, seconds, err = run_notebook(nbs/nb.name, nbs)
    request.node.user_properties.append(('seconds', round(seconds, 1)))
    slowest = ', '.join(f'cell {i} {t:.0f} s' for t, i, _ in cell_seconds(out)[:3])
    print(f'{nb.name}: {seconds:.0f} s in the kernel (slowest: {slowest})')
    assert err is None, err
