"""The executor interface: what runs the cells of a grid, wherever they run.

An executor checks its settings before anything is written (`check`), then runs or submits the
cells it is given (`execute`) and says what happened (`ExecutionSummary`). Every executor runs a
cell through the same cell process (radbench.execute.worker), retries as the RetryPolicy allows
and stops after the FailureBudget's number of failures in a row (radbench.execute.policy).
Executors are listed in radbench.execute.registry: a new one is one module and one entry there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from radbench.config.schema import GridConfig
from radbench.execute.policy import RetryPolicy
from radbench.store import CellDir


@dataclass
class ExecutorSettings:
    """What the command line and the grid say about executing (command line first)."""

    out: Path
    grid: GridConfig
    gpus: str | None = "auto"
    max_parallel: int | None = None
    reuse_models: bool = True
    slurm: dict[str, Any] = field(default_factory=dict)  # command-line sbatch overrides
    dry_run: bool = False


@dataclass
class ExecutionSummary:
    """How the cells given to an executor ended (or that they were submitted)."""

    done: list[CellDir] = field(default_factory=list)
    failed: list[tuple[CellDir, str]] = field(default_factory=list)
    busy: list[CellDir] = field(default_factory=list)  # run by another process meanwhile
    not_started: list[CellDir] = field(default_factory=list)
    stopped_early: str | None = None
    retried: int = 0
    submitted: int = 0  # handed to a scheduler, to run later
    job_id: str | None = None


class Executor(ABC):
    """Runs cell directories; one instance per `radbench run`."""

    name: str

    def __init__(self, settings: ExecutorSettings):
        self.settings = settings

    @abstractmethod
    def check(self) -> None:
        """Raise a one-line ConfigError for settings that cannot work (before any write)."""

    @abstractmethod
    def execute(self, cells: list[CellDir], labels: dict[str, str], policy: RetryPolicy,
                console: Console) -> ExecutionSummary:
        """Run (or submit) `cells`; `labels` names them for people."""
