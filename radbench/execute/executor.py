"""The executor interface: what runs the cells of a grid, wherever they run.

An executor checks its settings before anything is written (`check`), then runs or submits the
cells it is given (`execute`) and says what happened (`ExecutionSummary`). Every executor runs a
cell through the same cell process (radbench.execute.worker), retries as the RetryPolicy allows
and stops after the FailureBudget's number of failures in a row (radbench.execute.policy).

Each executor owns its settings: an `Options` model, filled from the grid YAML's
`executors: {NAME: {...}}` section with the command line's `--executor-option KEY=VALUE`
applied over it, and its queue view (`queued_jobs`: which of the jobs it submitted are still
queued or running). Executors are listed in radbench.execute.registry: a new one is one module
and one entry there; nothing above this package names one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from rich.console import Console

from radbench.config.schema import GridConfig
from radbench.errors import ConfigError
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
    options: dict[str, Any] = field(default_factory=dict)  # --executor-option KEY=VALUE
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


class NoOptions(BaseModel):
    """An executor without settings of its own: any option given is refused."""

    model_config = ConfigDict(extra="forbid")


class Executor(ABC):
    """Runs cell directories; one instance per `radbench run`."""

    name: str
    Options: type[BaseModel] = NoOptions  # its settings (grid: executors.NAME; --executor-option)

    def __init__(self, settings: ExecutorSettings):
        self.settings = settings
        self.options = self.resolve_options()

    def resolve_options(self) -> BaseModel:
        """The grid's `executors.NAME` section with the command line's options over it,
        validated by `Options`; a ConfigError naming the key otherwise."""
        grid = self.settings.grid
        section = dict((grid.executors.get(self.name) or {}) if grid is not None else {})
        given = {k: v for k, v in self.settings.options.items() if v is not None}
        try:
            return self.Options.model_validate({**section, **given})
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            what = first["msg"].lower()
            if key.split(".")[0] in given:
                raise ConfigError(f"--executor-option {key}: {what} (--executor "
                                  f"{self.name})") from None
            where = grid.key(f"executors.{self.name}.{key}") if grid is not None else key
            raise ConfigError(f"{where}: {what}") from None

    @classmethod
    def queued_jobs(cls, submitted: list[dict[str, Any]]) -> set[str] | None:
        """Of the jobs recorded in these cells' `submitted.json`, the ids still queued or
        running; None when this executor cannot tell (its records are then trusted)."""
        return None

    @abstractmethod
    def check(self) -> None:
        """Raise a one-line ConfigError for settings that cannot work (before any write)."""

    @abstractmethod
    def execute(self, cells: list[CellDir], labels: dict[str, str], policy: RetryPolicy,
                console: Console) -> ExecutionSummary:
        """Run (or submit) `cells`; `labels` names them for people."""
