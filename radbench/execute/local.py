"""The local executor: a pool of slots (GPUs or CPU), one cell process per slot, retries of
transient failures and a budget of consecutive failures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

from radbench.execute.lock import is_locked
from radbench.execute.policy import CRASHED, FailureBudget, RetryPolicy
from radbench.execute.slots import Slot
from radbench.store import CellDir
from radbench.train.worker import BUSY_EXIT


@dataclass
class Outcome:
    """How one attempt of a cell ended."""

    cell: CellDir
    slot: Slot
    ok: bool
    seconds: float
    reason: str | None = None
    kind: str | None = None
    final: bool = True


@dataclass
class ExecutionSummary:
    done: list[CellDir] = field(default_factory=list)
    failed: list[tuple[CellDir, str]] = field(default_factory=list)
    busy: list[CellDir] = field(default_factory=list)  # run by another process meanwhile
    not_started: list[CellDir] = field(default_factory=list)
    stopped_early: str | None = None
    retried: int = 0


class Events(Protocol):
    def started(self, cell: CellDir, slot: Slot, attempt: int) -> None: ...
    def finished(self, outcome: Outcome) -> None: ...
    def retrying(self, cell: CellDir, what: str) -> None: ...
    def refresh(self, running: dict[str, tuple[CellDir, float]]) -> None: ...


class _Quiet:
    def started(self, cell, slot, attempt):
        pass

    def finished(self, outcome):
        pass

    def retrying(self, cell, what):
        pass

    def refresh(self, running):
        pass


@dataclass
class _Running:
    cell: CellDir
    slot: Slot
    process: subprocess.Popen
    started: float


def worker_command(cell: CellDir) -> list[str]:
    return [sys.executable, "-m", "radbench.train.worker", str(cell.path)]


def worker_environment(slot: Slot) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(slot.environment())
    return env


def start_worker(cell: CellDir, slot: Slot) -> subprocess.Popen:
    """One cell process on `slot`; it writes its own log (stderr holds only what it says
    before it has the cell's lock)."""
    return subprocess.Popen(worker_command(cell), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=worker_environment(slot), text=True)


def attempt_outcome(cell: CellDir, slot: Slot, code: int, early_output: str,
                    seconds: float) -> Outcome | None:
    """Read how an attempt ended; records a crash when the process left no trace. None: the
    cell was busy in another process."""
    if code == BUSY_EXIT:
        return None
    if cell.result() is not None:
        return Outcome(cell, slot, True, seconds)
    failure = cell.failure()
    if failure is None:
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        if code in (-9, 137):
            how += " (the system may have run out of memory)"
        said = early_output.strip().splitlines()[-1:] if early_output else []
        reason = f"cell process {how} without a result" + (f": {said[0]}" if said else "")
        cell.record_failure(reason[:500], CRASHED, exit_code=code, transient=True)
        failure = cell.failure() or {"reason": reason, "kind": CRASHED}
    return Outcome(cell, slot, False, seconds, f"{failure['reason']} (log: {cell.log_file})",
                   failure.get("kind"))


def run_local(cells: list[CellDir], slots: list[Slot], policy: RetryPolicy = RetryPolicy(),
              events: Events | None = None, poll_seconds: float = 0.2) -> ExecutionSummary:
    """Run each cell in its own process, one per free slot; returns what happened."""
    events = events or _Quiet()
    summary = ExecutionSummary()
    queue = list(cells)
    free = list(slots)
    running: list[_Running] = []
    attempts: dict[str, int] = {}
    budget = FailureBudget(policy.max_consecutive_failures)
    try:
        while queue or running:
            while queue and free and not budget.exhausted:
                cell = queue.pop(0)
                if cell.result() is not None:  # finished by another run meanwhile
                    summary.busy.append(cell)
                    continue
                if is_locked(cell.lock_file):
                    summary.busy.append(cell)
                    continue
                slot = free.pop(0)
                attempts[cell.id] = attempts.get(cell.id, 0) + 1
                running.append(_Running(cell, slot, start_worker(cell, slot), time.monotonic()))
                events.started(cell, slot, attempts[cell.id])
            if budget.exhausted and queue:
                summary.not_started.extend(queue)
                queue.clear()
            time.sleep(poll_seconds)
            events.refresh({r.slot.name: (r.cell, r.started) for r in running})
            for item in [r for r in running if r.process.poll() is not None]:
                running.remove(item)
                free.append(item.slot)
                early = item.process.stderr.read() if item.process.stderr else ""
                if item.process.stderr:
                    item.process.stderr.close()
                outcome = attempt_outcome(item.cell, item.slot, item.process.returncode, early,
                                          time.monotonic() - item.started)
                if outcome is None:
                    summary.busy.append(item.cell)
                    continue
                if not outcome.ok:
                    change = policy.retry(item.cell, item.cell.failure() or {},
                                          attempts[item.cell.id])
                    if change is not None:
                        outcome.final = False
                        summary.retried += 1
                        events.finished(outcome)
                        events.retrying(item.cell, change)
                        queue.insert(0, item.cell)
                        continue
                events.finished(outcome)
                budget.record(outcome.ok, outcome.reason)
                if outcome.ok:
                    summary.done.append(item.cell)
                else:
                    summary.failed.append((item.cell, outcome.reason or ""))
                if budget.exhausted and summary.stopped_early is None:
                    summary.stopped_early = (
                        f"stopped after {budget.in_a_row} cells in a row failed (last: "
                        f"{budget.reasons[-1]}); no new cells started")
    finally:
        for item in running:  # interrupted: stop our children; their cells count as stale
            item.process.terminate()
        for item in running:
            try:
                item.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                item.process.kill()
                item.process.wait()
    return summary
