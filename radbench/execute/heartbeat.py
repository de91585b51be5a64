"""A running cell's heartbeat: `heartbeat.json` rewritten every few seconds by a thread of the
cell process, with the time, host, pid, Slurm job id and the epoch it is in."""

from __future__ import annotations

import os
import socket
import threading
import time
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
