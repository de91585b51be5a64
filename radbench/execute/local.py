"""The local executor: a pool of slots, one cell process per slot."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, IO

from radbench.store import CellDir


@dataclass
class _Running:
    cell: CellDir
    process: subprocess.Popen
    log: IO
    started: float


def worker_command(cell: CellDir) -> list[str]:
    return [sys.executable, "-m", "radbench.train.worker", str(cell.path)]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _finish(running: _Running) -> tuple[bool, str | None]:
    """After the process ended: make sure the cell has a result or a recorded failure."""
    running.log.close()
    cell, code = running.cell, running.process.returncode
    if cell.result() is not None:
        return True, None
    failure = cell.failure()
    if failure is None:
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        reason = f"cell process {how} without a result (see {cell.log_file})"
        cell.record_failure(reason, "crashed", exit_code=code)
        return False, reason
    return False, f"{failure['reason']} (log: {cell.log_file})"


def run_local(cells: list[CellDir], max_parallel: int = 1,
              on_start: Callable[[CellDir], None] | None = None,
              on_finish: Callable[[CellDir, bool, str | None, float], None] | None = None,
              poll_seconds: float = 0.2) -> None:
    """Run each cell in its own process, at most `max_parallel` at a time."""
    queue = list(cells)
    running: list[_Running] = []
    env = _environment()
    try:
        while queue or running:
            while queue and len(running) < max(1, max_parallel):
                cell = queue.pop(0)
                cell.clear_outputs()
                log = cell.log_file.open("w")
                process = subprocess.Popen(worker_command(cell), stdout=log,
                                           stderr=subprocess.STDOUT, env=env,
                                           stdin=subprocess.DEVNULL)
                running.append(_Running(cell, process, log, time.monotonic()))
                if on_start:
                    on_start(cell)
            time.sleep(poll_seconds)
            for item in [r for r in running if r.process.poll() is not None]:
                running.remove(item)
                ok, reason = _finish(item)
                if on_finish:
                    on_finish(item.cell, ok, reason, time.monotonic() - item.started)
    finally:
        for item in running:  # interrupted: stop our children, leave them pending
            item.process.terminate()
        for item in running:
            try:
                item.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                item.process.kill()
            item.log.close()
