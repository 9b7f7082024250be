"""End-to-end runs of the command-line tools, through subprocesses, as a user would run them."""
import json, os, shutil, subprocess, sys
from pathlib import Path

BIN = Path(sys.executable).parent


def _run(*args, **kw):
    return subprocess.run([str(BIN/args[0]), *args[1:]], capture_output=True, text=True, **kw)


def test_help_says_what_is_read_and_written():
    for cmd in ('wsvseg-world', 'wsvseg-demo', 'wsvseg-train-encoder', 'wsvseg-label-videos', 'wsvseg-train-decoder', 'wsvseg-segment',
                'wsvseg-adapt'):
        r = _run(cmd, '--help')
        assert r.returncode == 0, r.stderr
        assert 'write' in r.stdout.lower(), r.stdout


def test_demo_runs_resumes_and_reports(tmp_path):
    run = tmp_path/'run'
    r = _run('wsvseg-demo', '--run', str(run), '--quick')
    assert r.returncode == 0, r.stdout + r.stderr
    report = (run/'report'/'report.md').read_text()
    assert 'discriminative parts only' in report and '![world: images](world-images.jpg)' in report
    assert (run/'report'/'world-images.jpg').stat().st_size > 1000
    assert 'thresholded attention' in report and 'ceiling (image GT masks)' in report and '(segment-examples.jpg)' in report
    assert len(list((run/'segment'/'masks').glob('*.png'))) == 20
    m = json.loads((run/'evaluate'/'metrics.json').read_text())
    parts = m['reference']['images']['discriminative parts only']
    assert 0.1 < parts['miou'] < 0.5, parts['miou']
    # a second run skips the finished stages
    r2 = _run('wsvseg-demo', '--run', str(run), '--quick')
    stages = ('world', 'evaluate', 'encoder', 'videoseg', 'decoder', 'adapt', 'segment', 'ablation')
    assert r2.returncode == 0 and r2.stdout.count('skipped') == len(stages), r2.stdout
    for stage in stages: assert (run/stage/'metrics.json').exists(), stage
    assert (run/'encoder'/'encoder.pt').exists()
    # the world it wrote reads back through the dataset readers, as the real datasets do
    from wsvseg.data import VOCDataset, DAVISDataset
    from wsvseg.world import world_vocab
    root = run/'world'/'data'
    ds = VOCDataset(root/'images', 'train', vocab=world_vocab(root), check_counts=False)
    assert len(ds) == 40 and ds[0].y.shape == (5,)
    assert len(DAVISDataset(root/'videos', '2017', 'val', vocab=world_vocab(root), check_counts=False)) == 4
    # the stage tools on their own, on what the demo wrote
    enc, dec = str(run/'encoder'/'encoder.pt'), str(run/'decoder'/'decoder.pt')
    imgs = tmp_path/'imgs'
    imgs.mkdir()
    shutil.copyfile(root/'images'/'JPEGImages'/'test_000000.jpg', imgs/'a.jpg')
    (imgs/'z.jpg').write_bytes(b'not a jpeg')
    r3 = _run('wsvseg-segment', str(imgs), enc, dec, '--run', str(tmp_path/'seg'))
    assert r3.returncode != 0 and 'z.jpg' in r3.stderr and 'Traceback' not in r3.stderr, r3.stderr
    assert (tmp_path/'seg'/'segment'/'masks'/'a.png').exists()          # what was done is kept
    (imgs/'z.jpg').unlink()
    r4 = _run('wsvseg-segment', str(imgs), enc, dec, '--run', str(tmp_path/'seg'))
    assert r4.returncode == 0 and '1 images (0 now)' in r4.stdout, r4.stdout + r4.stderr
    r5 = _run('wsvseg-adapt', str(root), enc, dec, '--run', str(tmp_path/'ad'), '--epochs', '1', '--device', 'cpu')
    assert r5.returncode == 0 and 'test mIoU' in r5.stdout, r5.stdout + r5.stderr
    assert (tmp_path/'ad'/'adapt'/'round1'/'decoder.pt').exists()


def test_stage_tools_report_bad_inputs(tmp_path):
    r = _run('wsvseg-train-decoder', str(tmp_path/'no-masks'), str(tmp_path), str(tmp_path/'enc.pt'), '--run', str(tmp_path/'r'))
    assert r.returncode != 0 and 'Traceback' not in r.stderr and str(tmp_path/'enc.pt') in r.stderr, r.stderr
    (tmp_path/'enc.pt').write_text('not a checkpoint')
    r = _run('wsvseg-segment', str(tmp_path), str(tmp_path/'enc.pt'), str(tmp_path/'enc.pt'), '--run', str(tmp_path/'r'))
    assert r.returncode != 0 and 'Traceback' not in r.stderr and 'enc.pt' in r.stderr, r.stderr


def test_world_refuses_a_foreign_folder(tmp_path):
    (tmp_path/'notes.txt').write_text('my thesis')
    r = _run('wsvseg-world', str(tmp_path))
    assert r.returncode != 0
    assert str(tmp_path) in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert (tmp_path/'notes.txt').read_text() == 'my thesis'


def test_demo_reports_a_bad_run_folder(tmp_path):
    f = tmp_path/'file'
    f.write_text('x')
    r = _run('wsvseg-demo', '--run', str(f))
    assert r.returncode != 0 and 'Traceback' not in r.stderr and str(f) in r.stderr, r.stderr
