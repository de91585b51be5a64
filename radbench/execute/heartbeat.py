"""A running cell's heartbeat: `heartbeat.json` rewritten every few seconds by a thread of the
cell process, with the time, host, pid, Slurm job id and the epoch it is in."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from radbench.store import CellDir

HEARTBEAT_SECONDS = 10.0
DEFAULT_STALE_SECONDS = 120.0


def stale_after() -> float:
    """Seconds without a heartbeat after which a cell counts as interrupted
    ($RADBENCH_STALE_SECONDS, default 120: twelve missed beats)."""
    try:
        return float(os.environ.get("RADBENCH_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    except ValueError:
        return DEFAULT_STALE_SECONDS


def slurm_job_id() -> str | None:
    """`ARRAYJOB_INDEX` inside a Slurm array task, the job id in a plain job, else None."""
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and index:
        return f"{array}_{index}"
    return os.environ.get("SLURM_JOB_ID")


def identity() -> dict[str, Any]:
    """Where this process runs: host, pid, Slurm job id, executor slot, visible GPUs."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job_id": slurm_job_id(),
            "slot": os.environ.get("RADBENCH_SLOT"),
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}


def where(beat: dict[str, Any]) -> str:
    """Where a heartbeat's process runs, for people: host, pid and the scheduler's job."""
    place = f"host {beat.get('host')} pid {beat.get('pid')}"
    if beat.get("slurm_job_id"):
        place += f" slurm job {beat['slurm_job_id']}"
    return place


FUTURE_TOLERANCE_S = 60.0  # clocks of two hosts differ by this much before it is said


@dataclass(frozen=True)
class Beat:
    """A heartbeat as a reader judges it: the record (empty when damaged), its age in seconds
    on this host's clock, and a note when the record's own time could not be trusted."""

    record: dict[str, Any]
    age: float
    note: str = ""


def read_beat(cell: CellDir, now: float | None = None) -> Beat | None:
    """The cell's heartbeat, judged safely: its recorded time when it is a number and not in
    the future; else (a damaged record, or a writer's clock ahead of this host's) the file's
    modification time, which this host's file system stamps, so that a beat from the future
    still goes stale once its writer stops. None when there is no heartbeat file."""
    now = time.time() if now is None else now
    try:
        modified = cell.heartbeat_file.stat().st_mtime
    except OSError:
        return None
    record = cell.heartbeat()
    record = record if isinstance(record, dict) else {}
    stamp = record.get("time")
    stamp = float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) \
        and math.isfinite(stamp) else None
    if stamp is None:
        return Beat(record, now - modified, "heartbeat.json is damaged; judged by its file time")
    if stamp - now > FUTURE_TOLERANCE_S:
        return Beat(record, now - modified, f"its writer's clock is {stamp - now:.0f} s ahead of "
                                            f"this host's; judged by the file's time")
    return Beat(record, max(0.0, now - stamp))


class Heartbeat:
    """Writes the cell's heartbeat now and every `interval` seconds until `stop()`."""

    def __init__(self, cell: CellDir, interval: float = HEARTBEAT_SECONDS, **fields: Any):
        self.cell = cell
        self.interval = interval
        self.fields = {**identity(), "started": time.time(), **fields}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._beat, name="radbench-heartbeat",
                                        daemon=True)

    def start(self) -> "Heartbeat":
        self.write()
        self._thread.start()
        return self

    def update(self, **fields: Any) -> None:
        """Change what the heartbeat says (e.g. the epoch) and write it at once."""
        with self._lock:
            self.fields.update(fields)
        self.write()

    def write(self) -> None:
        with self._lock:
            record = {**self.fields, "time": time.time()}
        try:
            self.cell.write_heartbeat(record)
        except OSError:  # a full or flaky disk must not kill the training
            pass

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def stop(self, remove: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 1)
        if remove:
            self.cell.heartbeat_file.unlink(missing_ok=True)
