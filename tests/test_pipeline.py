"""End-to-end runs of the command-line tools, through subprocesses, as a user would run them."""
import json, shutil, subprocess, sys, tomllib
from pathlib import Path
import pytest
from layouts import make_voc

BIN = Path(sys.executable).parent
COMMANDS = ('wsvseg-run', 'wsvseg-world', 'wsvseg-crawl', 'wsvseg-demo', 'wsvseg-train-encoder', 'wsvseg-label-videos',
            'wsvseg-train-decoder', 'wsvseg-segment', 'wsvseg-adapt')


def _run(*args, **kw):
    return subprocess.run([str(BIN/args[0]), *map(str, args[1:])], capture_output=True, text=True, **kw)


def _quick_toml(tmp_path, extra=''):
    p = tmp_path/'quick.toml'
    p.write_text('preset = "quick"\n[world]\nn_train = 8\nn_test = 8\nn_videos = 4\n[compute]\ndevice = "cpu"\nworkers = 1\n' + extra)
    return p


def test_help_says_what_is_read_and_written():
    for cmd in COMMANDS:
        r = _run(cmd, '--help')
        assert r.returncode == 0, r.stderr
        assert 'RUN' in r.stdout or 'OUT' in r.stdout, (cmd, r.stdout)


def test_print_config_is_the_full_default_toml():
    from wsvseg.core import PipelineConfig, config_to_dict
    r = _run('wsvseg-run', '--print-config')
    assert r.returncode == 0, r.stderr
    d = tomllib.loads(r.stdout)
    assert d.pop('preset') == 'paper'
    want = config_to_dict(PipelineConfig())
    def same(a, b):   # TOML has no null: None is written as ""
        if isinstance(b, dict): return set(a) == set(b) and all(same(a[k], b[k]) for k in b)
        return a == ('' if b is None else b)
    assert same(d, want)
    keys = [l for l in r.stdout.splitlines() if '=' in l and not l.startswith('#')]
    assert all('  # ' in l for l in keys), [l for l in keys if '  # ' not in l][:3]


def test_demo_runs_resumes_and_reports(tmp_path):
    run = tmp_path/'run'
    r = _run('wsvseg-demo', '--run', run, '--quick')
    assert r.returncode == 0, r.stdout + r.stderr
    report = (run/'report'/'report.md').read_text()
    assert 'discriminative parts only' in report and '![World: images](world-images.jpg)' in report
    assert 'thresholded attention' in report and 'ceiling (image GT masks)' in report and '(segment-examples.jpg)' in report
    page = (run/'report'/'index.html').read_text()      # the same report as one page, its pictures inside it
    assert 'Table 4: video segmentation' in page and 'src="data:image/jpeg;base64,' in page and '.jpg"' not in page
    assert len(list((run/'segment'/'masks').glob('*.png'))) == 20
    res = json.loads((run/'results.json').read_text())
    parts = res['reference']['images']['discriminative parts only']
    assert 0.1 < parts['miou'] < 0.5, parts['miou']
    assert 'decoder (video masks)' in res['table1'] and 0 <= res['encoder']['mAP'] <= 1
    from wsvseg.core import load_config, preset_config
    assert load_config(run/'config.json') == preset_config('quick')
    # a second run skips the finished stages; only the report is rewritten
    r2 = _run('wsvseg-demo', '--run', run, '--quick')
    stages = ('world', 'reference', 'encoder', 'videoseg', 'decoder', 'adapt', 'segment', 'ablation')
    assert r2.returncode == 0 and r2.stdout.count('skipped') == len(stages), r2.stdout
    for stage in stages: assert (run/stage/'metrics.json').exists() and (run/stage/'done.json').exists(), stage
    # the world it wrote reads back through the dataset readers, as the real datasets do
    from wsvseg.data import VOCDataset, DAVISDataset
    from wsvseg.world import world_vocab
    root = run/'world'/'data'
    ds = VOCDataset(root/'images', 'train', vocab=world_vocab(root), check_counts=False)
    assert len(ds) == 40 and ds[0].y.shape == (5,)
    assert len(DAVISDataset(root/'videos', '2017', 'val', vocab=world_vocab(root), check_counts=False)) == 4
    # the stage commands on their own, on what the demo wrote; a bad image in the middle of a folder is skipped and listed
    enc, dec = run/'encoder'/'encoder.pt', run/'decoder'/'decoder.pt'
    imgs = tmp_path/'imgs'
    imgs.mkdir()
    for n in ('a', 'z'): shutil.copyfile(root/'images'/'JPEGImages'/'test_000000.jpg', imgs/f'{n}.jpg')
    (imgs/'m.jpg').write_bytes(b'not a jpeg')
    r3 = _run('wsvseg-segment', imgs, enc, dec, '--run', tmp_path/'seg')
    assert r3.returncode == 1 and 'm.jpg' in r3.stderr and 'Traceback' not in r3.stderr, r3.stderr
    for n in ('a', 'z'): assert (tmp_path/'seg'/'segment'/'masks'/f'{n}.png').exists()    # the images after it are done too
    (imgs/'m.jpg').unlink()
    r4 = _run('wsvseg-segment', imgs, enc, dec, '--run', tmp_path/'seg')
    assert r4.returncode == 0 and '2 images (0 now)' in r4.stdout, r4.stdout + r4.stderr
    r5 = _run('wsvseg-adapt', root, enc, dec, '--run', tmp_path/'ad', '--epochs', '1', '--device', 'cpu')
    assert r5.returncode == 0 and 'test mIoU' in r5.stdout, r5.stdout + r5.stderr
    assert (tmp_path/'ad'/'adapt'/'round1'/'decoder.pt').exists()
    r6 = _run('wsvseg-label-videos', root/'videos', enc, '--run', tmp_path/'lab', '--workers', '1', '--score-threshold', '0',
              '--n-superpixels', '100')
    assert r6.returncode == 0 and '4 labelled' in r6.stdout, r6.stdout + r6.stderr
    lab = json.loads((tmp_path/'lab'/'videoseg'/'label_config.json').read_text())['config']
    assert lab['filter']['score_threshold'] == 0 and lab['videoseg']['n_superpixels'] == 100


def test_run_reads_toml_and_refuses_a_changed_config(tmp_path):
    cfg = _quick_toml(tmp_path)
    r = _run('wsvseg-run', cfg, '--run', tmp_path/'r', '--stages', 'world')
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path/'r'/'world'/'done.json').exists() and not (tmp_path/'r'/'encoder').exists()
    changed = _quick_toml(tmp_path, '[decoder]\nepochs = 3\n')   # the world's settings are the same: the run resumes
    assert _run('wsvseg-run', changed, '--run', tmp_path/'r', '--stages', 'world').returncode == 0
    changed.write_text(changed.read_text().replace('n_train = 8', 'n_train = 9'))
    r = _run('wsvseg-run', changed, '--run', tmp_path/'r', '--stages', 'world')
    assert r.returncode == 2 and 'world.n_train: 8 -> 9' in r.stderr and '--force world' in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr
    r = _run('wsvseg-run', changed, '--run', tmp_path/'r', '--stages', 'world', '--force', 'world')
    assert r.returncode == 0 and json.loads((tmp_path/'r'/'config.json').read_text())['world']['n_train'] == 9


@pytest.mark.parametrize('text,wanted', [('[decoder]\nepoch = 3\n', "[decoder]: unknown key(s) ['epoch']"),
                                         ('[encoder]\nepochs = "many"\n', 'encoder.epochs: expected int'),
                                         ('[encoder\n', 'not valid TOML'),
                                         ('preset = "fast"\n', "unknown preset 'fast'")])
def test_run_names_the_file_and_key_of_a_bad_config(tmp_path, text, wanted):
    p = tmp_path/'bad.toml'
    p.write_text(text)
    r = _run('wsvseg-run', p, '--run', tmp_path/'r')
    assert r.returncode == 2 and r.stderr.startswith(f'wsvseg-run: {p}') and wanted in r.stderr, r.stderr
    assert not (tmp_path/'r'/'config.json').exists()


def test_progress_lines_arrive_as_they_happen(tmp_path):
    cfg = _quick_toml(tmp_path)
    p = subprocess.Popen([str(BIN/'wsvseg-run'), str(cfg), '--run', str(tmp_path/'r'), '--stages', 'world,reference'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    running = p.poll() is None
    p.communicate()
    assert first.startswith('[world] running') and running, first


def test_a_small_voc_folder_needs_the_one_flag(tmp_path):
    make_voc(tmp_path, ['2007_000001', '2007_000002'], ['2007_000003', '2007_000004'], [], [])
    voc = tmp_path/'VOCdevkit'/'VOC2012'
    r = _run('wsvseg-train-encoder', voc, '--run', tmp_path/'r', '--backbone', 'small', '--epochs', '1', '--device', 'cpu')
    assert r.returncode == 2 and '--no-check-counts' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = _run('wsvseg-train-encoder', voc, '--run', tmp_path/'r', '--backbone', 'small', '--epochs', '1', '--device', 'cpu',
             '--image-size', '32', '--no-check-counts')
    assert r.returncode == 0 and 'test mAP' in r.stdout, r.stdout + r.stderr


def test_stage_tools_report_bad_inputs(tmp_path):
    r = _run('wsvseg-train-decoder', tmp_path/'no-masks', tmp_path, tmp_path/'enc.pt', '--run', tmp_path/'r')
    assert r.returncode == 2 and 'Traceback' not in r.stderr and str(tmp_path/'enc.pt') in r.stderr, r.stderr
    (tmp_path/'enc.pt').write_text('not a checkpoint')
    r = _run('wsvseg-segment', tmp_path, tmp_path/'enc.pt', tmp_path/'enc.pt', '--run', tmp_path/'r')
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'enc.pt' in r.stderr, r.stderr
    r = _run('wsvseg-train-decoder', tmp_path, tmp_path, tmp_path/'enc.pt', '--size', 'big')
    assert r.returncode == 2 and '--size' in r.stderr, r.stderr


def test_world_refuses_a_foreign_folder(tmp_path):
    (tmp_path/'notes.txt').write_text('my thesis')
    r = _run('wsvseg-world', tmp_path)
    assert r.returncode == 2
    assert str(tmp_path) in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert (tmp_path/'notes.txt').read_text() == 'my thesis'


def test_demo_reports_a_bad_run_folder(tmp_path):
    f = tmp_path/'file'
    f.write_text('x')
    r = _run('wsvseg-demo', '--run', f)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and str(f) in r.stderr, r.stderr


def test_run_on_a_voc_folder_and_a_folder_of_mp4s(tmp_path):
    "The inputs table: VOC-layout images (a few, with the one flag) and mp4s in class folders, every stage end to end."
    from layouts import make_video
    ids = [f'2007_{i:06d}' for i in range(12)]
    classes = {i: [('aeroplane', 'bird')[k % 2]] for k, i in enumerate(ids)}
    make_voc(tmp_path, ids[:8], ids[8:], [], [], classes=classes)
    for c in ('aeroplane', 'bird'):
        for k in range(2): make_video(tmp_path/'clips'/c/f'{c}-{k}.mp4', n=12)
    (tmp_path/'clips'/'bird'/'broken.mp4').write_bytes(b'not a video')
    cfg = tmp_path/'voc.toml'
    cfg.write_text(f'preset = "quick"\n[inputs]\nimages = "{tmp_path/"VOCdevkit"/"VOC2012"}"\nvideos = "{tmp_path/"clips"}"\n'
                   'check_counts = false\n[encoder]\nimage_size = 32\n[compute]\ndevice = "cpu"\nworkers = 1\n')
    r = _run('wsvseg-run', cfg, '--run', tmp_path/'r')
    assert r.returncode == 1 and 'broken' in r.stderr and 'Traceback' not in r.stderr, r.stdout + r.stderr
    for stage in ('encoder', 'videoseg', 'decoder', 'adapt', 'segment', 'ablation', 'report'):
        assert (tmp_path/'r'/stage/'done.json').exists(), (stage, r.stdout + r.stderr)
    assert not (tmp_path/'r'/'world').exists()
    res = json.loads((tmp_path/'r'/'results.json').read_text())
    assert 'decoder (GT video masks)' not in res['table1'] and len(res['table1']) == 5
    assert len(list((tmp_path/'r'/'segment'/'masks').glob('*.png'))) == 4


def test_every_setting_is_a_key_of_the_run_toml_and_arrives(tmp_path):
    "Each field of every configuration dataclass is accepted by wsvseg-run's TOML, and a changed value arrives."
    from wsvseg.core import PipelineConfig, config_leaves, read_toml_config, field_types
    def sample(f, v):
        t = field_types(f)
        if isinstance(v, bool): return (not v, 'true' if not v else 'false')
        if isinstance(v, int): return (v + 1, str(v + 1))
        if isinstance(v, float): return (v / 2, repr(v / 2))
        if v is None: return {'int': (64, '64'), 'float': (0.5, '0.5'), 'bool': (True, 'true'), 'tuple': ((1.0,), '[1.0]'),
                              'str': ('x', '"x"')}[next(x for x in t if x != 'None')]
        return (v, json.dumps(list(v) if isinstance(v, tuple) else v))
    n = 0
    for path, _, f, v in config_leaves(PipelineConfig):
        want, text = sample(f, v)
        p = tmp_path/'one.toml'
        p.write_text(f'[{".".join(path[:-1])}]\n{path[-1]} = {text}\n')
        got = read_toml_config(p)
        for name in path: got = getattr(got, name)
        assert got == want, (path, got, want)
        n += 1
    assert n > 100, n


def test_every_option_of_a_stage_command_is_a_setting():
    "The stage commands' options are derived from the dataclasses: each names a field, none is typed by hand."
    from wsvseg.cli import COMMANDS, parser_for
    from wsvseg.core import PipelineConfig, config_leaves
    paths = {p for p, *_ in config_leaves(PipelineConfig)}
    for cmd in COMMANDS:
        p, dests = parser_for(cmd, '')
        assert set(dests.values()) <= paths, cmd
        config_dests = {a.dest for a in p._actions if a.option_strings} - {'help', 'preset'}
        assert config_dests == set(dests), (cmd, config_dests ^ set(dests))


@pytest.mark.parametrize('name', ['voc-youtube-objects', 'voc-crawl'])
def test_real_data_configs_read_and_name_the_missing_dataset(tmp_path, name):
    """The shipped configurations for real data (README: Running on real data) parse, choose the paper's settings and,
    without the datasets on disk, stop at the first stage with a line naming the VOC folder."""
    from wsvseg.core import read_toml_config
    from wsvseg.pipeline import pipeline_stages
    path = Path(__file__).parents[1]/'wsvseg'/'configs'/f'{name}.toml'
    cfg = read_toml_config(path)
    assert cfg.encoder.backbone == 'vgg16' and cfg.encoder.pretrained.endswith('vgg16-397923af.pth')
    assert cfg.inputs.sbd and cfg.encoder.lr == 0.001 and cfg.encoder.batch_size == 14      # §5.1
    want = ['encoder', 'crawl', 'videoseg'] if name == 'voc-crawl' else ['encoder', 'videoseg']
    assert pipeline_stages(cfg)[:len(want)] == want
    r = _run('wsvseg-run', path, '--run', tmp_path/'r', cwd=tmp_path)
    assert r.returncode == 2 and 'datasets/VOCdevkit/VOC2012' in r.stderr and 'Traceback' not in r.stderr, r.stderr
