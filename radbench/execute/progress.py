"""Progress of a grid: a rich live bar on a terminal, plain lines elsewhere (logs, CI, Slurm)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class GridProgress:
    """Counts cells done / failed / left and shows the last AUC and an ETA."""

    def __init__(self, total: int, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.total, self.done, self.failed = total, 0, 0
        self.last_auc: float | None = None
        self.started = time.monotonic()
        self._live = self.console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]cells"), BarColumn(), TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[last]}"), console=self.console, transient=False,
        ) if self._live else None
        self._task = None

    def _counts(self) -> str:
        left = self.total - self.done - self.failed
        return f"done {self.done}  failed {self.failed}  left {left}"

    def _last(self) -> str:
        return "" if self.last_auc is None else f"last AUC {self.last_auc:.3f}"

    def __enter__(self) -> "GridProgress":
        if self._progress:
            self._progress.start()
            self._task = self._progress.add_task("grid", total=self.total, counts=self._counts(),
                                                 last="")
        else:
            self.console.print(f"running {self.total} cell(s)")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    def started_cell(self, label: str) -> None:
        if not self._progress:
            self.console.print(f"start  {label}", highlight=False)

    def finished_cell(self, label: str, ok: bool, auc: float | None, seconds: float,
                      reason: str | None = None) -> None:
        if ok:
            self.done += 1
            self.last_auc = auc
        else:
            self.failed += 1
        finished = self.done + self.failed
        eta = (time.monotonic() - self.started) / finished * (self.total - finished)
        status = f"AUC {auc:.3f}" if ok and auc is not None else f"FAILED: {reason}"
        line = f"[{finished}/{self.total}] {label}: {status} ({seconds:.0f} s)"
        if self._progress:
            self._progress.console.print(line, highlight=False)
            self._progress.update(self._task, completed=finished, counts=self._counts(),
                                  last=self._last())
        else:
            self.console.print(f"{line}; {self._counts()}; ETA {eta:.0f} s", highlight=False)
