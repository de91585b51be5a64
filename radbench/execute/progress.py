"""Progress of a grid: on a terminal a rich live view with one row per executor slot (its cell,
epoch and time) and the totals with an ETA; elsewhere (Slurm logs, CI) plain lines."""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from radbench.execute.attempt import Outcome
from radbench.execute.slots import Slot
from radbench.store import CellDir

PLAIN_TOTALS_EVERY_S = 60.0


class GridProgress:
    """Follows a local grid run: cells done / failed / running / left, per-slot rows, ETA."""

    def __init__(self, total: int, slots: list[Slot], labels: dict[str, str],
                 console: Console | None = None, live: bool | None = None):
        self.console = console or Console(stderr=True)
        self.total, self.slots, self.labels = total, slots, labels
        self.done = self.failed = self.degenerate = 0
        self.last_auc: float | None = None
        self.started_at = time.monotonic()
        self.running: dict[str, tuple[CellDir, float]] = {}
        self._epochs: dict[str, str] = {}
        self._progress: dict[str, tuple[int, int]] = {}  # cell id -> (epoch under way, epochs)
        self._epochs_read = 0.0
        self._plain_totals = time.monotonic()
        use_live = self.console.is_terminal if live is None else live
        self._live = Live(get_renderable=self.render, console=self.console,
                          refresh_per_second=2, transient=True) if use_live else None

    # -- totals -----------------------------------------------------------------------------
    def counts(self) -> str:
        left = self.total - self.done - self.failed - len(self.running)
        degenerate = f" ({self.degenerate} DEGENERATE)" if self.degenerate else ""
        return (f"done {self.done}{degenerate}  failed {self.failed}  running "
                f"{len(self.running)}  left {left}")

    def work_done(self) -> float:
        """Cells finished, plus the finished epochs of the running cells as fractions of a cell
        (from their heartbeats), so the ETA moves from the first epoch on."""
        partial = 0.0
        for cell, _ in self.running.values():
            epoch, epochs = self._progress.get(cell.id, (0, 0))
            if epochs:
                partial += max(epoch - 1, 0) / epochs  # the heartbeat names the epoch under way
        return self.done + self.failed + partial

    def eta(self) -> str:
        work = self.work_done()
        if work <= 0:
            return "ETA ?"
        seconds = (time.monotonic() - self.started_at) / work * (self.total - work)
        return f"ETA {_duration(seconds)}"

    # -- live view --------------------------------------------------------------------------
    def render(self):
        """The live view: one row per slot, then the totals."""
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for column in ("slot", "cell", "epoch", "time"):
            table.add_column(column)
        now = time.monotonic()
        for slot in self.slots:
            if slot.name in self.running:
                cell, started = self.running[slot.name]
                table.add_row(slot.name, self.labels.get(cell.id, cell.id),
                              self._epochs.get(cell.id, "-"), _duration(now - started))
            else:
                table.add_row(slot.name, Text("idle", style="dim"), "", "")
        last = "" if self.last_auc is None else f"  last AUC {self.last_auc:.3f}"
        totals = Text(f"cells {self.done + self.failed}/{self.total}  {self.counts()}  "
                      f"elapsed {_duration(now - self.started_at)}  {self.eta()}{last}")
        return Group(table, totals)

    def __enter__(self) -> "GridProgress":
        if self._live:
            self._live.start()
        else:
            self.console.print(f"running {self.total} cell(s) on {len(self.slots)} slot(s): "
                               f"{', '.join(s.name for s in self.slots)}", highlight=False)
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self._live.stop()
        self.console.print(f"cells {self.counts()}; elapsed "
                           f"{_duration(time.monotonic() - self.started_at)}", highlight=False)

    def _print(self, line: str) -> None:
        self.console.print(line, highlight=False, markup=False)

    # -- events from the executor -----------------------------------------------------------
    def started(self, cell: CellDir, slot: Slot, attempt: int) -> None:
        self.running[slot.name] = (cell, time.monotonic())
        if not self._live:
            again = f" (attempt {attempt})" if attempt > 1 else ""
            self._print(f"[{slot.name}] start {self.labels.get(cell.id, cell.id)}{again} "
                        f"(log: {cell.log_file})")

    def finished(self, outcome: Outcome) -> None:
        self.running.pop(outcome.slot.name, None)
        label = self.labels.get(outcome.cell.id, outcome.cell.id)
        if outcome.ok:
            self.done += 1
            result = outcome.cell.result()
            self.last_auc = result.test_auc if result is not None else None
            status = f"AUC {self.last_auc:.3f}" if self.last_auc is not None else "done"
            if result is not None and result.degenerate:
                self.degenerate += 1
                status = f"AUC {self.last_auc:.3f} DEGENERATE (every test case got the same " \
                         f"score)"
        elif outcome.final:
            self.failed += 1
            status = f"FAILED: {outcome.reason}"
        else:
            status = f"failed, will retry: {outcome.reason}"
        self._print(f"[{self.done + self.failed}/{self.total}] [{outcome.slot.name}] {label}: "
                    f"{status} ({outcome.seconds:.0f} s)")

    def retrying(self, cell: CellDir, what: str) -> None:
        self._print(f"retry {self.labels.get(cell.id, cell.id)}" + (f": {what}" if what else ""))

    def refresh(self, running: dict[str, tuple[CellDir, float]]) -> None:
        now = time.monotonic()
        if now - self._epochs_read >= 1.0:
            self._epochs_read = now
            for cell, _ in running.values():
                beat = cell.heartbeat()
                beat = beat if isinstance(beat, dict) else {}  # damaged: no epoch to show
                epoch, epochs = beat.get("epoch"), beat.get("epochs")
                if isinstance(epoch, int) and isinstance(epochs, int) and epoch > 0:
                    self._epochs[cell.id] = f"{epoch}/{epochs}"
                    self._progress[cell.id] = (epoch, epochs)
        if not self._live and now - self._plain_totals >= PLAIN_TOTALS_EVERY_S:
            self._plain_totals = now
            self._print(f"progress: {self.counts()}; {self.eta()}")


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
