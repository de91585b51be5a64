"""A lock per cell: an advisory `flock` on the cell's `.lock` file.

The kernel drops the lock when the holding process ends, however it ends (SIGKILL included), so a
crash never leaves a cell locked; two `radbench run` processes, or two Slurm jobs, on the same
run directory can never train the same cell at once.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class FileLock:
    """Exclusive, non-reentrant lock on one file; `acquire` may wait up to `wait_s` seconds."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0, blocking: bool = False) -> bool:
        """True when this process now holds the lock; False if another holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.1)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "FileLock":
        self.acquire(blocking=True)
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(path: Path) -> bool:
    """Whether some process holds the lock on `path` (a missing file is not locked)."""
    if not Path(path).exists():
        return False
    probe = FileLock(path)
    if probe.acquire():
        probe.release()
        return False
    return True
