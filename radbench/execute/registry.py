"""The executors `radbench run --executor NAME` knows: a new executor is one entry here."""

from __future__ import annotations

from radbench.errors import ConfigError
from radbench.execute.executor import Executor, ExecutorSettings
from radbench.execute.local import LocalExecutor
from radbench.execute.slurm import SlurmExecutor

EXECUTORS: dict[str, type[Executor]] = {
    LocalExecutor.name: LocalExecutor,
    SlurmExecutor.name: SlurmExecutor,
}


def make_executor(name: str, settings: ExecutorSettings) -> Executor:
    """The executor called `name`, its settings checked (ConfigError before any write)."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name!r}: expected {' or '.join(EXECUTORS)}")
    executor = EXECUTORS[name](settings)
    executor.check()
    return executor
