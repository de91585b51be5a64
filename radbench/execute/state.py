"""Where each cell of a run stands: done, running, stale (interrupted), failed, queued, pending.

Read from the cell directories alone (result, failure, heartbeat, lock, attempts, a scheduler's
submission record) and the executors' queue views, so `radbench status` works from any machine that sees the run directory.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from radbench.config.schema import FreezeName
from radbench.execute.heartbeat import read_beat, stale_after
from radbench.execute.heartbeat import where as heartbeat_where
from radbench.execute.lock import is_locked
from radbench.execute.policy import machine_fault
from radbench.execute.registry import queued_jobs
from radbench.cellspec import Cell
from radbench.store import CellDir, CellState, RunDir

ORDER = tuple(CellState)
FREEZE_ORDER = get_args(FreezeName)  # the paper's order (not models.build: that imports Keras)


@dataclass
class CellStatus:
    """A cell's state with what the executors know of it (slot, host, epoch, reason)."""

    cell: CellDir
    state: CellState
    detail: str = ""
    epoch: str = ""
    degenerate: bool = False  # done, but every test case got the same score
    test_auc: float | None = None  # done cells

    @functools.cached_property
    def spec(self) -> Cell | None:
        """The cell's parameters from cell.json, read once (None when unreadable)."""
        config = self.cell.config()
        return config.cell if config else None

    def label(self) -> str:
        return self.spec.label() if self.spec else self.cell.id

    def sort_key(self) -> tuple:
        """Scenario order: task, source, backbone, freeze (the paper's order), lr, seed, fold."""
        cell = self.spec
        if cell is None:
            return (self.cell.id,)
        freeze = FREEZE_ORDER.index(cell.freeze) if cell.freeze in FREEZE_ORDER else 9
        return (cell.task, cell.source, cell.backbone, freeze, cell.lr, cell.seed, cell.fold)

    def to_dict(self) -> dict[str, Any]:
        return {"cell_id": self.cell.id, "state": self.state.value, "label": self.label(),
                "detail": self.detail, "epoch": self.epoch, "degenerate": self.degenerate,
                "test_auc": self.test_auc}


def _took(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def cell_state(cell: CellDir, now: float | None = None, queued: set[str] | None = None,
               stale_s: float | None = None) -> CellStatus:
    """The state of one cell. `queued`: the job ids its executor still holds queued or running
    (radbench.execute.registry.queued_jobs; None: unknown, trust the submission record)."""
    now = time.time() if now is None else now
    stale_s = stale_after() if stale_s is None else stale_s
    problem = cell.damage()
    if problem:
        return CellStatus(cell, CellState.DAMAGED, f"{problem}; the same `radbench run` "
                                                   f"command rewrites it or trains the cell again")
    result = cell.result()  # each file read once
    if result is not None:
        took = (result.timings or {}).get("total_s")
        done = f"AUC {result.test_auc:.3f}" + (f" in {_took(took)}" if took else "")
        if result.degenerate:
            return CellStatus(cell, CellState.DONE, f"{result.degenerate_reason()}"
                              + (f"; took {_took(took)}" if took else ""),
                              degenerate=True, test_auc=result.test_auc)
        return CellStatus(cell, CellState.DONE, done, test_auc=result.test_auc)
    failure = cell.failure()
    if failure is not None:
        again = "; a fault of the machine: the same `radbench run` trains it again" \
            if machine_fault(failure) else ""
        return CellStatus(cell, CellState.FAILED,
                          f"{failure.kind}: {failure.reason} (log: {cell.log_file}){again}")
    judged = read_beat(cell, now)
    locked = is_locked(cell.lock_file)
    if judged is not None:
        beat, age = judged.record, judged.age
        note = f"; {judged.note}" if judged.note else ""
        where = heartbeat_where(beat)
        epoch = f"{beat['epoch']}/{beat['epochs']}" if beat.get("epoch") and \
            beat.get("epochs") else ""
        if locked and age <= stale_s:
            slot = f"slot {beat['slot']}, " if beat.get("slot") else ""
            return CellStatus(cell, CellState.RUNNING,
                              f"{slot}{where}, heartbeat {_ago(age)}{note}", epoch)
        why = "no heartbeat for " + _ago(age).replace(" ago", "") if locked else \
            "its process ended without a result"
        return CellStatus(cell, CellState.STALE, f"interrupted: {why} ({where}, attempt "
                                                 f"{beat.get('attempt')}{note}); the next run "
                                                 f"starts it again", epoch)
    if locked:
        return CellStatus(cell, CellState.RUNNING, "starting")
    if cell.attempts():
        return CellStatus(cell, CellState.STALE, "interrupted before its first heartbeat; the "
                                                 "next run starts it again")
    submitted = cell.submitted()
    if submitted is not None:
        job = str(submitted.get("job_id"))
        named = " ".join(filter(None, (submitted.get("executor"), "job", job)))
        if queued is None or job in queued:
            return CellStatus(cell, CellState.QUEUED, named)
        return CellStatus(cell, CellState.STALE, f"{named} ended without starting the cell; "
                                                 f"the next run starts it again")
    return CellStatus(cell, CellState.PENDING)


def run_states(out: Path, ask_queues: bool = True) -> list[CellStatus]:
    """The state of every cell in run directory `out`."""
    run = RunDir(out)
    cells = list(run.cells())
    listed = {c.id for c in cells}
    cells += [c for c, _ in run.damaged() if c.id not in listed]  # cell.json unreadable
    queued = queued_jobs([s for s in (c.submitted() for c in cells) if s is not None]) \
        if ask_queues else None
    now = time.time()
    return [cell_state(c, now, queued) for c in cells]


def count_states(states: list[CellStatus]) -> dict[str, int]:
    counts = Counter(s.state for s in states)
    return {name.value: counts.get(name, 0) for name in ORDER}
