"""Every setting and its one home: the TOML key (`wsvseg-run`), the dataclass field in `core` that holds it, its default,
the stage commands whose options it is, and its comment (paper section or "not given").

    python tools/settings.py            # a Markdown table
"""
from wsvseg.core import PipelineConfig, config_leaves, field_notes
from wsvseg.cli import COMMANDS, parser_for

def options() -> dict:
    "{setting path: ['wsvseg-<cmd> --option', ...]}"
    out = {}
    for cmd in COMMANDS:
        p, dests = parser_for(cmd, '')
        flag = {a.dest: a.option_strings[0] for a in p._actions if a.option_strings}
        for dest, path in dests.items(): out.setdefault(path, []).append(f'`wsvseg-{cmd} {flag[dest]}`')
    return out

if __name__ == '__main__':
    opts = options()
    print('| TOML key (wsvseg-run) | home | default | command options | comment |')
    print('|---|---|---|---|---|')
    for path, cls, f, v in config_leaves(PipelineConfig):
        key = '.'.join(path)
        print(f"| `{key}` | `{cls.__name__}.{f.name}` | `{v!r}` | {', '.join(opts.get(path, [])) or '—'} | "
              f"{field_notes(cls).get(f.name, '')} |")
