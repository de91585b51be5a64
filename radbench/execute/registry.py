"""The executors `radbench run --executor NAME` knows: a new executor is one module and one entry
here. An entry names its class by "module:Class" with the one-line help the command line shows,
so that listing the executors imports none of them; the class brings its options model and its
queue view (radbench.execute.executor)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from radbench.registry import Registry

if TYPE_CHECKING:
    from radbench.execute.executor import Executor, ExecutorSettings


@dataclass(frozen=True)
class ExecutorEntry:
    """A registered executor: its class as "module:Class" and its help line."""

    target: str
    help: str

    def load(self) -> "type[Executor]":
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


EXECUTORS: Registry[ExecutorEntry] = Registry("executor")
EXECUTORS.register("local", ExecutorEntry("radbench.execute.local:LocalExecutor",
                                          "slots on this machine (--gpus, --max-parallel)"))
EXECUTORS.register("slurm", ExecutorEntry("radbench.execute.slurm:SlurmExecutor",
                                          "one job array through submitit; returns after "
                                          "submission"))


def make_executor(name: str, settings: "ExecutorSettings") -> "Executor":
    """The executor called `name`, its options resolved and its settings checked (ConfigError
    before any write)."""
    executor = EXECUTORS.get_entry(name, "--executor").load()(settings)
    executor.check()
    return executor


def queued_jobs(submitted: list[dict[str, Any]]) -> set[str] | None:
    """The job ids, of those recorded in `submitted` (cells' submitted.json), that their
    executors still hold queued or running; None when no executor can tell. A record names its
    executor; one without the name (older runs) is asked of every executor."""
    if not submitted:
        return None
    live: set[str] | None = None
    for name, entry in EXECUTORS.items():
        mine = [r for r in submitted if r.get("executor") in (None, name)]
        jobs = entry.load().queued_jobs(mine) if mine else None
        if jobs is not None:
            live = (live or set()) | jobs
    return live


def executors_help() -> str:
    """`--executor`'s help: each registered executor with its line."""
    return "; ".join(f"{name}: {entry.help}" for name, entry in EXECUTORS.items())
