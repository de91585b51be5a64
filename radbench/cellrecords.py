"""The records of a cell folder, typed and verified on read: result.json (CellResult) and
failure.json (CellFailure), and the states a cell can be in (CellState).

A record is trusted only when it is whole, its values lie in their domain (an AUC in [0, 1],
finite numbers where numbers belong) and the cell id inside it is its folder's: a result.json
copied from another cell's folder would otherwise give this scenario that cell's AUC.
`record_damage` says what is wrong in words; radbench.store.CellDir uses it for every file.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator


class CellState(str, Enum):
    """Where a cell stands. The files decide DONE, FAILED and PENDING (`CellDir.stored_state`);
    the executors' locks, heartbeats and Slurm queue add RUNNING, STALE and QUEUED."""

    DONE = "done"        # result.json written: never trained again
    RUNNING = "running"  # a process holds its lock and beats its heartbeat
    STALE = "stale"      # interrupted (no lock holder, or no heartbeat for too long): runs again
    FAILED = "failed"    # failure.json written: skipped on re-runs unless --retry-failed
    QUEUED = "queued"    # submitted to Slurm, not started yet
    PENDING = "pending"  # never started
    DAMAGED = "damaged"  # cell.json, result.json or failure.json unreadable, out of its
    #                      domain or another cell's: named by status, refused by report,
    #                      rewritten or trained again by the next run

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class _Record(BaseModel):
    # extra="allow": files written by older or newer versions keep every field they hold
    model_config = ConfigDict(extra="allow")


DEGENERATE_RANGE = 1e-4  # test scores closer than this are "all equal"


class CellResult(_Record):
    """What result.json holds: the cell's scenario fields (radbench.grid.Cell.scenario()), its
    fold, its test AUC computed from predictions.csv, and how it was obtained."""

    cell_id: str
    fold: int
    test_auc: float
    positive_class: str | None = None
    distinct_test_scores: int | None = None  # at 6 decimals
    test_score_range: float | None = None  # max - min of the test scores
    best_epoch: int | None = None
    best_val_loss: float | None = None
    best_val_auc: float | None = None  # recorded when the best epoch is chosen on val AUC
    epochs_run: int | None = None
    resumed_from_epoch: int | None = None  # the last attempt continued after this many epochs
    batch_size_used: int | None = None
    overrides: dict[str, Any] | None = None
    attempt: int | None = None
    n_images: dict[str, int] = {}
    split_id: str | None = None
    data_id: str | None = None
    source_sha256: str | None = None
    localization: dict[str, Any] | None = None
    metrics: dict[str, float | None] | None = None  # radbench.metrics, at the val threshold
    timings: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    device: Any = None
    finished: str | None = None

    @field_validator("test_auc")
    @classmethod
    def _an_auc(cls, value: float) -> float:
        return _in_unit_interval(value)

    @field_validator("best_val_auc")
    @classmethod
    def _an_auc_or_none(cls, value: float | None) -> float | None:
        return None if value is None else _in_unit_interval(value)

    @field_validator("best_val_loss", "test_score_range")
    @classmethod
    def _finite_or_none(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"a finite number was expected, not {value}")
        return value

    @field_validator("metrics")
    @classmethod
    def _finite_metrics(cls, value: dict[str, float | None] | None):
        for name, number in (value or {}).items():
            if number is not None and not math.isfinite(number):
                raise ValueError(f"metric {name!r} is {number}; a finite number or null was "
                                 f"expected")
        return value

    @property
    def degenerate(self) -> bool:
        """Every test case got (nearly) the same score: the AUC says nothing about the model.
        One distinct score at 6 decimals, or all within DEGENERATE_RANGE of each other."""
        return self.distinct_test_scores == 1 or (
            self.test_score_range is not None and self.test_score_range < DEGENERATE_RANGE)

    def degenerate_reason(self) -> str:
        return (f"degenerate: {self.distinct_test_scores} distinct test score(s), range "
                f"{self.test_score_range if self.test_score_range is not None else 0:.1e}; "
                f"its AUC {self.test_auc:.3f} is ties, not discrimination")


class CellFailure(_Record):
    """What failure.json holds: a one-line reason, the failure kind (radbench.execute.policy),
    whether another attempt may pass, and where the attempt ran."""

    reason: str
    kind: str
    cell_id: str | None = None  # absent in records written before radbench 0.2
    log: str | None = None
    transient: bool = False
    attempt: int | None = None
    batch_size: int | None = None
    exit_code: int | None = None


def not_whole(name: str, exc: ValidationError) -> str:
    """A record file that does not validate, said with its first wrong key."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "its content"
    message = first["msg"].removeprefix("Value error, ")
    return f"{name} is not a whole record ({where}: {message[:1].lower() + message[1:]})"


def _in_unit_interval(value: float) -> float:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"an AUC lies in [0, 1], not {value}")
    return value


def foreign_id(name: str, data: dict[str, Any], folder_id: str | None) -> str | None:
    """The damage of a record whose cell id is not its folder's (None: it is the folder's, the
    record is too old to carry one, or the folder is not in a run's cells/ folder)."""
    held = data.get("cell_id")
    if held is None or folder_id is None or str(held) == folder_id:
        return None
    return (f"{name} holds cell {held}, not this folder's {folder_id} (copied from another "
            f"cell's folder?)")


def finite_or_none(value: float | None) -> float | None:
    """A number as a record stores it: None when it is undefined (NaN, infinite)."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


def auc_or_none(value: float | None) -> float | None:
    """An AUC as a record stores it: None when it is undefined or a placeholder outside [0, 1]."""
    value = finite_or_none(value)
    return value if value is not None and 0.0 <= value <= 1.0 else None
