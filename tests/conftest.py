"""Shared pytest set-up: the `--run-slow` switch and a closing `N passed, N failed` line."""
import pytest


def pytest_addoption(parser):
    parser.addoption('--run-slow', action='store_true', default=False,
                     help='also run tests marked slow, and notebook cells flagged `#| slow`')


def pytest_collection_modifyitems(config, items):
    if config.getoption('--run-slow'): return
    skip = pytest.mark.skip(reason='slow: run with --run-slow')
    for item in items:
        if 'slow' in item.keywords: item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    "One plain closing line counting notebooks and tests together, e.g. `tests: 41 passed, 0 failed, 2 skipped`."
    st = terminalreporter.stats
    n = lambda k: len([r for r in st.get(k, []) if getattr(r, 'when', 'call') in ('call', 'setup') or k == 'error'])
    passed, failed = n('passed'), n('failed') + len(st.get('error', []))
    skipped = len(st.get('skipped', []))
    terminalreporter.write_line(f'tests: {passed} passed, {failed} failed, {skipped} skipped')
