"""What a failed cell may expect: which failures are worth a retry, the batch size after running
out of memory, and the budget of consecutive failures that stops a grid early."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from radbench.errors import ConfigError, DataError
from radbench.store import CellDir, CellFailure

OUT_OF_MEMORY = "out_of_memory"
CRASHED = "crashed"  # the process ended without a result or a recorded failure (signal, OOM kill)
BAD_CONFIG = "bad_config"
BAD_DATA = "bad_data"
NO_SPACE = "no_space"  # the disk (or quota) was full while the cell wrote
READ_ONLY = "read_only"  # a folder the cell writes to became read-only
# faults of the machine, not of the cell: the next `radbench run` of the same grid trains such a
# cell again without --retry-failed (the disk freed, the node back); a process killed by
# SIGKILL or SIGTERM (the system out of memory, a preemption, a job's time limit) counts too
MACHINE_FAULTS = {NO_SPACE: "no space left on the device", READ_ONLY: "read-only file system"}
KILLED_EXIT_CODES = frozenset({-9, -15, 137, 143})
_FAULT_MARKERS = {NO_SPACE: ("no space left on device", "errno = 28", "disk quota exceeded",
                             "errno = 122"),
                  READ_ONLY: ("read-only file system", "errno = 30")}

# failures that may pass on another try (a preempted job or a failed node ends the process: it
# shows as CRASHED); any other kind (bad config or data, a bug: the exception's class name)
# would fail the same way again
TRANSIENT = frozenset({OUT_OF_MEMORY, CRASHED})

_OOM_MARKERS = ("out of memory", "oom when allocating", "resource_exhausted", "resourceexhausted",
                "failed to allocate", "cudnn_status_alloc_failed", "cublas_status_alloc_failed")


def classify_exception(exc: BaseException) -> str:
    """The failure kind of an exception raised while running a cell."""
    text = f"{type(exc).__name__}: {exc}".lower()
    if isinstance(exc, MemoryError) or type(exc).__name__ in ("OutOfMemoryError",
                                                             "ResourceExhaustedError") \
            or any(marker in text for marker in _OOM_MARKERS):
        return OUT_OF_MEMORY
    for kind, markers in _FAULT_MARKERS.items():
        if any(marker in text for marker in markers):
            return kind
    if isinstance(exc, DataError):
        return BAD_DATA
    if isinstance(exc, ConfigError):
        return BAD_CONFIG
    return type(exc).__name__


def machine_fault(failure: CellFailure) -> str | None:
    """The fault of the machine that ended this failed cell, in words (None: the cell's own
    failure, which stays failed until `--retry-failed`)."""
    if failure.kind in MACHINE_FAULTS:
        return MACHINE_FAULTS[failure.kind]
    if failure.kind == CRASHED and failure.exit_code in KILLED_EXIT_CODES:
        return "killed by the system (out of memory, preempted or out of time)"
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` extra attempts for transient failures; out of memory lowers the batch size
    (halved, not below `min_batch_size`) only when `halve_batch_on_oom`; the grid stops after
    `max_consecutive_failures` cells in a row failed for good (0: never)."""

    retries: int = 0
    max_consecutive_failures: int = 5
    halve_batch_on_oom: bool = False
    min_batch_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RetryPolicy":
        return cls(**data)

    def retry(self, cell: CellDir, failure: CellFailure, attempts_made: int) -> str | None:
        """Prepare another attempt if the policy allows one; returns what changed ('' for
        nothing) or None when the failure is final. Lowers the batch size in overrides.json."""
        smaller = next_batch_size(failure, attempts_made, self)
        if not smaller:
            return None if smaller is None else ""
        current = int(failure.batch_size or 0)
        overrides = cell.overrides()
        overrides["batch_size"] = smaller
        overrides.setdefault("changes", []).append(
            {"batch_size": {"from": current, "to": smaller}, "reason": failure.reason})
        cell.write_overrides(overrides)
        return f"batch size {current} -> {smaller} after running out of memory"


def next_batch_size(failure: CellFailure, attempts_made: int, policy: RetryPolicy) -> int | None:
    """The retry decision as a pure function: None, no other attempt; 0, another attempt with
    the same settings; N > 0, another attempt with batch size N (halved after running out of
    memory when the policy allows, never below its minimum)."""
    if failure.kind not in TRANSIENT or attempts_made > policy.retries:
        return None
    if failure.kind != OUT_OF_MEMORY or not policy.halve_batch_on_oom:
        return 0
    current = int(failure.batch_size or 0)
    if current <= policy.min_batch_size:
        return None
    return max(policy.min_batch_size, current // 2)


class FailureBudget:
    """Counts cells that failed for good in a row; a success resets the count."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row = limit, 0
        self.reasons: list[str] = []

    def record(self, ok: bool, reason: str | None = None) -> None:
        if ok:
            self.in_a_row, self.reasons = 0, []
        else:
            self.in_a_row += 1
            self.reasons.append(reason or "unknown")

    @property
    def exhausted(self) -> bool:
        return self.limit > 0 and self.in_a_row >= self.limit
