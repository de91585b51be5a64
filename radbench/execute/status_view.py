"""`radbench status DIR`: the counts, then every cell that is not done (or all of them)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from radbench.errors import ConfigError
from radbench.execute.state import ORDER, CellStatus, count_states, run_states
from radbench.store import CellState, RunDir
from radbench.terminal import short_sources

STYLES = {CellState.DONE: "green", CellState.RUNNING: "cyan", CellState.STALE: "yellow",
          CellState.FAILED: "red", CellState.QUEUED: "blue", CellState.PENDING: "dim",
          CellState.DAMAGED: "bold magenta"}
# the table's order: what needs attention first
RANK = {state: i for i, state in enumerate((CellState.DAMAGED, CellState.RUNNING,
                                            CellState.STALE, CellState.FAILED,
                                            CellState.QUEUED, CellState.PENDING, CellState.DONE))}


def _states(run_dir: Path) -> list[CellStatus]:
    if not Path(run_dir).is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    states = run_states(Path(run_dir))
    if not states:
        raise ConfigError(f"{run_dir}: no cells found (expected "
                          f"{RunDir(run_dir).cell('*').config_file} written by `radbench run`)")
    return states


def _counts_line(states: list[CellStatus]) -> str:
    counts = count_states(states)
    line = f"{len(states)} cell(s): " + ", ".join(f"{name} {counts[name.value]}"
                                                  for name in ORDER)
    degenerate = sum(s.degenerate for s in states)
    if degenerate:
        line += f"; {degenerate} done cell(s) DEGENERATE (every test case got the same score; " \
                f"listed below)"
    return line


def status_table(states: list[CellStatus], show_all: bool = False) -> Table:
    table = Table(show_edge=False, box=None, header_style="bold")
    for column in ("state", "cell", "epoch", "detail"):
        table.add_column(column, overflow="fold")
    # what needs attention first, then by scenario (task, source, backbone, freeze, lr, seed,
    # fold: the label's order)
    for state in sorted(states, key=lambda s: (RANK[s.state], not s.degenerate, s.sort_key())):
        if state.state == CellState.DONE and not show_all and not state.degenerate:
            continue
        shown = Text(state.state.value + (" DEGENERATE" if state.degenerate else ""),
                     style="bold red" if state.degenerate else STYLES[state.state])
        table.add_row(shown, short_sources(state.label()), state.epoch, state.detail)
    return table


def print_status(run_dir: Path, console: Console, show_all: bool = False,
                 as_json: bool = False) -> None:
    states = _states(run_dir)
    if as_json:
        print(json.dumps({"counts": count_states(states),
                          "degenerate": sum(s.degenerate for s in states),
                          "cells": [s.to_dict() for s in states]}, indent=2))
        return
    console.print(_counts_line(states), highlight=False, soft_wrap=False)
    if show_all or any(s.state != CellState.DONE or s.degenerate for s in states):
        console.print(status_table(states, show_all), soft_wrap=False)


def follow_status(run_dir: Path, every_s: float, console: Console) -> None:
    """Refresh until no cell is running or queued (a live view on a terminal, else lines)."""
    def active(states: list[CellStatus]) -> bool:
        return any(s.state in (CellState.RUNNING, CellState.QUEUED) for s in states)

    states = _states(run_dir)
    if console.is_terminal:
        with Live(console=console, refresh_per_second=1) as live:
            while True:
                live.update(_view(states))
                if not active(states):
                    break
                time.sleep(every_s)
                states = _states(run_dir)
    else:
        while True:
            console.print(f"{time.strftime('%H:%M:%S')} {_counts_line(states)}", highlight=False)
            if not active(states):
                break
            time.sleep(every_s)
            states = _states(run_dir)
    print_status(run_dir, console)


def _view(states: list[CellStatus]):
    from rich.console import Group

    return Group(Text(_counts_line(states)), status_table(states))
