"""Help a person can use: every command's help at 80 columns with every option name whole,
readable metavars (no Python types), listed choices, and radbench --version."""

from __future__ import annotations

import re

from radbench.cli import command
from tests.conftest import run_cli


def every_command():
    """(path, click command) for radbench and each of its subcommands."""
    root = command()
    stack = [(("radbench",), root)]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        stack += [(path + (name,), sub) for name, sub in getattr(cmd, "commands", {}).items()]


def help_text(path, cmd, width: int = 80) -> str:
    with cmd.make_context(" ".join(path), [], resilient_parsing=True,
                          terminal_width=width, max_content_width=width) as ctx:
        return cmd.get_help(ctx)


def test_every_help_fits_80_columns_with_whole_option_names():
    seen = 0
    for path, cmd in every_command():
        text = help_text(path, cmd)
        seen += 1
        assert "…" not in text, f"{' '.join(path)}: a name was cut:\n{text}"
        assert max(len(line) for line in text.splitlines()) <= 80, text
        assert not re.search(r"<(str|bool|int|int range|float|path|float range)>", text), text
        if not getattr(cmd, "commands", None) and path != ("radbench",):
            assert f"Example: radbench {' '.join(path[1:])}" in text, f"{path}: no example"
        for param in cmd.params:
            for name in param.opts:
                if name.startswith("--"):
                    assert name in text, f"{' '.join(path)}: {name} missing or cut"
    assert seen >= 15


def test_choices_and_metavars_are_readable():
    commands = dict(every_command())
    task_init = help_text(("radbench", "task", "init"), commands[("radbench", "task", "init")])
    assert "--layout folders|csv" in task_init and "--group-pattern REGEX" in task_init
    run = help_text(("radbench", "run"), commands[("radbench", "run")])
    assert "--split published|kfold|holdout" in run and "--grid GRID" in run
    assert "--max-consecutive-failures N" in run


def test_version_flag_and_completion():
    from radbench import __version__

    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"radbench {__version__}"
    assert "--install-completion" in run_cli("--help").stdout
