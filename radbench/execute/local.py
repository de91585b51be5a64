"""The local executor: a pool of slots (GPUs or CPU), one cell process per slot, retries of
transient failures and a budget of consecutive failures.

Cells go to processes in batches: cells that build the same model (all but learning rate and
fold the same) form one batch, which a process builds and traces once (radbench.train.reuse).
A slot's process is a warm worker: when its batch is done it is fed the next batch on its
standard input, so Python, the backend and their imports start once per slot, not once per
model. A worker whose cell failed or crashed is not fed again (its cells after it start in a
fresh process), and a crash takes down only that worker. `reuse_models=False` runs one cell per
process, each started afresh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Protocol

from radbench.execute.attempt import BUSY_EXIT, Outcome, attempt_outcome, worker_command
from radbench.execute.executor import ExecutionSummary, Executor
from radbench.execute.lock import is_locked
from radbench.execute.policy import FailureBudget, RetryPolicy
from radbench.execute.progress import GridProgress
from radbench.execute.slots import Slot, make_slots
from radbench.store import CellDir


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
    cells: list[CellDir]  # the batch's cells not reported yet
    slot: Slot
    process: subprocess.Popen
    started: float  # when the current cell started
    current: CellDir | None = None
    announced: set[str] = field(default_factory=set)
    stop_sent: bool = False
    healthy: bool = True  # no cell of this process failed: it may be fed another batch

    def feedable(self) -> bool:
        """A warm worker with its input open, its batch done, no failure, still running."""
        return (self.process.stdin is not None and not self.process.stdin.closed
                and not self.cells and self.healthy and not self.stop_sent
                and self.process.poll() is None)

    def feed(self, batch: list[CellDir]) -> bool:
        """Hand a warm worker its next batch; False when its input is gone."""
        try:
            for cell in batch:
                self.process.stdin.write(json.dumps(str(cell.path)) + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError):  # it died meanwhile: `_ended` will see it
            return False
        self.cells.extend(batch)
        return True

    def close_input(self) -> None:
        """No more batches: the worker ends after the cell in hand."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass


def model_groups(cells: list[CellDir], reuse_models: bool = True) -> list[list[CellDir]]:
    """Batches of cells for one process each: with `reuse_models`, the cells that build the
    same model (all but learning rate and fold equal), in the order they first appear."""
    if not reuse_models:
        return [[cell] for cell in cells]
    groups: dict[str, list[CellDir]] = {}
    for cell in cells:
        config = cell.config()
        key = config.cell.model_key() if config else cell.id  # unreadable: a process of its own
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


def worker_environment(slot: Slot) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(slot.environment())
    return env


def start_worker(cells: list[CellDir], slot: Slot, policy: RetryPolicy,
                 serve: bool = False) -> subprocess.Popen:
    """One cell process on `slot` for a batch of cells; it writes each cell's log (stderr holds
    only what it says before it has the first cell's lock). It stops its batch itself after
    the failure budget's number of failures in a row. `serve`: a warm worker, fed further
    batches on its standard input."""
    env = worker_environment(slot)
    env["RADBENCH_MAX_CONSECUTIVE_FAILURES"] = str(policy.max_consecutive_failures)
    return subprocess.Popen(worker_command(cells, serve=serve), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE if serve else subprocess.DEVNULL,
                            env=env, text=True)


def _started_here(cell: CellDir, pid: int) -> bool:
    attempts = cell.attempts()
    return bool(attempts) and attempts[-1].get("pid") == pid


class LocalRun:
    """One grid's cells through the local slots: a queue of model groups, the running cell
    processes, each cell's attempt count and the failure budget. `run()` starts a process per
    free slot, follows each process's cells as they start and end (retrying what the policy
    allows), and returns what happened."""

    def __init__(self, cells: list[CellDir], slots: list[Slot], policy: RetryPolicy,
                 events: Events | None = None, poll_seconds: float = 0.2,
                 reuse_models: bool = True):
        self.policy, self.poll_seconds = policy, poll_seconds
        self.warm = reuse_models  # one fresh process per cell is what --no-reuse-models asks
        self.events = events or _Quiet()
        self.summary = ExecutionSummary()
        self.queue = model_groups(cells, reuse_models)
        self.free = list(slots)
        self.running: list[_Running] = []
        self.attempts: dict[str, int] = {}
        self.budget = FailureBudget(policy.max_consecutive_failures)

    def run(self) -> ExecutionSummary:
        try:
            while self.queue or self.running:
                self._start_workers()
                if self.budget.exhausted:
                    self._stop_starting()
                time.sleep(self.poll_seconds)
                for item in self.running:
                    self._advance(item)
                self._feed_warm_workers()
                self.events.refresh({r.slot.name: (r.current, r.started) for r in self.running
                                     if r.current is not None})
                for item in [r for r in self.running if r.process.poll() is not None]:
                    self.running.remove(item)
                    self.free.append(item.slot)
                    self._advance(item)
                    self._ended(item)
        finally:
            self._stop_children()
        return self.summary

    def _next_batch(self) -> list[CellDir]:
        """The next model group's cells not done or running elsewhere ([]: none left)."""
        while self.queue:
            batch = []
            for cell in self.queue.pop(0):
                if cell.result() is not None or is_locked(cell.lock_file):
                    self.summary.busy.append(cell)  # done or running in another process
                else:
                    batch.append(cell)
            if batch:
                return batch
        return []

    def _start_workers(self) -> None:
        """A cell process on each free slot for the next model group not done elsewhere."""
        while self.queue and self.free and not self.budget.exhausted:
            batch = self._next_batch()
            if not batch:
                continue
            slot = self.free.pop(0)
            self.running.append(_Running(batch, slot, start_worker(
                batch, slot, self.policy, serve=self.warm), time.monotonic()))

    def _feed_warm_workers(self) -> None:
        """Each warm worker whose batch is done gets the next one; with none left (or after a
        failure in it) its input is closed and it ends."""
        for item in self.running:
            if not item.feedable():
                if item.cells or item.process.poll() is not None:
                    continue
                item.close_input()  # failed or told to stop: it ends, a fresh one may start
                continue
            batch = [] if self.budget.exhausted else self._next_batch()
            if not batch:
                item.close_input()
            elif not item.feed(batch):
                self.queue.insert(0, batch)

    def _stop_starting(self) -> None:
        """The failure budget is spent: queued cells are not started, running processes finish
        the cell in hand and start no other."""
        self.summary.not_started.extend(c for batch in self.queue for c in batch)
        self.queue.clear()
        for item in self.running:
            item.close_input()
            if not item.stop_sent and item.process.poll() is None:
                item.process.send_signal(signal.SIGUSR1)
                item.stop_sent = True

    def _stop_children(self) -> None:
        """Interrupted: stop our cell processes; their cells count as stale."""
        for item in self.running:
            item.close_input()
            item.process.terminate()
        for item in self.running:
            try:
                item.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                item.process.kill()
                item.process.wait()

    def _report(self, outcome: Outcome) -> None:
        """Record how a cell's attempt ended: retried when the policy allows, else done or
        failed (counted against the failure budget)."""
        if not outcome.ok:
            failure = outcome.cell.failure()
            change = None if failure is None else self.policy.retry(
                outcome.cell, failure, self.attempts.get(outcome.cell.id, 1))
            if change is not None:
                outcome.final = False
                self.summary.retried += 1
                self.events.finished(outcome)
                self.events.retrying(outcome.cell, change)
                self.queue.insert(0, [outcome.cell])
                return
        self.events.finished(outcome)
        self.budget.record(outcome.ok, outcome.reason)
        if outcome.ok:
            self.summary.done.append(outcome.cell)
        else:
            self.summary.failed.append((outcome.cell, outcome.reason or ""))
        if self.budget.exhausted and self.summary.stopped_early is None:
            self.summary.stopped_early = (
                f"stopped after {self.budget.in_a_row} cells in a row failed (last: "
                f"{self.budget.reasons[-1]}); no new cells started")

    def _advance(self, item: _Running) -> None:
        """Report the cells of a running batch that have ended; announce the one started."""
        pid = item.process.pid
        for cell in list(item.cells):
            # attempts.jsonl is read until the cell is seen started here, then no more
            here = cell.id in item.announced or _started_here(cell, pid)
            if here:
                self._announce(item, cell)
            if here and (cell.result() is not None or cell.failure() is not None):
                item.cells.remove(cell)
                outcome = attempt_outcome(cell, item.slot, 0, "", time.monotonic() - item.started)
                item.healthy = item.healthy and outcome is not None and outcome.ok
                self._report(outcome)
            elif not here and cell.result() is not None:
                item.cells.remove(cell)
                self.summary.busy.append(cell)  # finished by another process meanwhile

    def _announce(self, item: _Running, cell: CellDir) -> None:
        if cell.id not in item.announced:
            item.announced.add(cell.id)
            item.current, item.started = cell, time.monotonic()
            self.attempts[cell.id] = self.attempts.get(cell.id, 0) + 1
            self.events.started(cell, item.slot, self.attempts[cell.id])

    def _ended(self, item: _Running) -> None:
        """The process ended: a cell it started without finishing crashed with it; cells it
        never reached go back to the queue."""
        code = item.process.returncode
        item.close_input()
        early = item.process.stderr.read() if item.process.stderr else ""
        if item.process.stderr:
            item.process.stderr.close()
        pid = item.process.pid
        started = [c for c in item.cells if _started_here(c, pid)]
        untouched = [c for c in item.cells if c not in started]
        if code == BUSY_EXIT:  # its only cell is being run by another process
            self.summary.busy.extend(untouched)
            untouched = []
        elif not started and not item.announced and untouched and code != 0 \
                and untouched[0].result() is None:
            started = [untouched.pop(0)]  # the process failed before it could start the cell
        for cell in started:
            self._announce(item, cell)
            self._report(attempt_outcome(cell, item.slot, code if code not in (0, BUSY_EXIT)
                                         else 1, early, time.monotonic() - item.started))
        again = []
        for cell in untouched:
            if cell.result() is not None:
                self.summary.busy.append(cell)
            else:
                again.append(cell)
        if again and self.budget.exhausted:
            self.summary.not_started.extend(again)
        elif again:
            self.queue.insert(0, again)


def run_local(cells: list[CellDir], slots: list[Slot], policy: RetryPolicy = RetryPolicy(),
              events: Events | None = None, poll_seconds: float = 0.2,
              reuse_models: bool = True) -> ExecutionSummary:
    """Run the cells in processes, one per free slot; returns what happened."""
    return LocalRun(cells, slots, policy, events, poll_seconds, reuse_models).run()


class LocalExecutor(Executor):
    """Slots on this machine: one per visible GPU (`--gpus`), or `--max-parallel` on the CPU."""

    name = "local"

    def check(self) -> None:
        self.slots = make_slots(self.settings.gpus, self.settings.max_parallel)

    def execute(self, cells: list[CellDir], labels: dict[str, str], policy: RetryPolicy,
                console) -> ExecutionSummary:
        with GridProgress(len(cells), self.slots, labels, console) as progress:
            return run_local(cells, self.slots, policy, progress,
                             reuse_models=self.settings.reuse_models)
