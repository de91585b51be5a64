"""One attempt of a cell in a cell process, as every executor starts and reads it."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from radbench.execute.policy import CRASHED, NO_SPACE
from radbench.execute.slots import Slot
from radbench.execute.worker import BUSY_EXIT
from radbench.store import CellDir, CellFailure

__all__ = ["BUSY_EXIT", "Outcome", "attempt_outcome", "worker_command"]


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


def worker_command(cell: CellDir | list[CellDir], serve: bool = False) -> list[str]:
    """The cell process for `cell` (or a batch of cells); `serve`: a warm worker that then
    reads further cell directories from its standard input (radbench.execute.worker)."""
    cells = cell if isinstance(cell, list) else [cell]
    return [sys.executable, "-m", "radbench.execute.worker", *(["--serve"] if serve else []),
            *(str(c.path) for c in cells)]


def _disk_full_in(cell: CellDir) -> bool:
    """Whether the end of the cell's log says a write failed for want of space (a library may
    then crash the process before Python can record the failure)."""
    try:
        with cell.log_file.open("rb") as stream:
            stream.seek(0, 2)
            stream.seek(max(0, stream.tell() - 8192))
            tail = stream.read().decode("utf-8", "replace")
    except OSError:
        return False
    return "No space left on device" in tail or "errno = 28" in tail


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
        kind = CRASHED
        if _disk_full_in(cell):
            how += " (no space left on the device while it wrote its outputs: free space and " \
                   "run the same command)"
            kind = NO_SPACE
        said = early_output.strip().splitlines()[-1:] if early_output else []
        reason = f"cell process {how} without a result" + (f": {said[0]}" if said else "")
        cell.record_failure(reason[:500], kind, exit_code=code, transient=kind == CRASHED)
        failure = cell.failure() or CellFailure(reason=reason, kind=CRASHED)
    return Outcome(cell, slot, False, seconds, f"{failure.reason} (log: {cell.log_file})",
                   failure.kind)
