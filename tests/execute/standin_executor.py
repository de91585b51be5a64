"""A stand-in executor, written as a user adding one would: this module and one registry entry
(`ExecutorEntry("tests.execute.standin_executor:InlineExecutor", ...)`), nothing else. It runs
each cell in its own cell process, one after another, in the order its option says, and keeps
a queue of its own (`queue.json` in the run directory) that its queue view reads."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from radbench.execute.attempt import attempt_outcome, worker_command
from radbench.execute.executor import ExecutionSummary, Executor
from radbench.execute.slots import Slot


class InlineOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: Literal["forward", "reverse"] = "forward"
    tag: str = Field("inline", min_length=1)


class InlineExecutor(Executor):
    name = "inline"
    Options = InlineOptions
    ran: list[str] = []

    def check(self) -> None:
        pass

    def execute(self, cells, labels, policy, console) -> ExecutionSummary:
        summary = ExecutionSummary()
        slot = Slot(self.options.tag, None)
        ordered = list(reversed(cells)) if self.options.order == "reverse" else list(cells)
        for cell in ordered:
            InlineExecutor.ran.append(cell.id)
            started = time.monotonic()
            done = subprocess.run(worker_command(cell), capture_output=True, text=True,
                                  env={**os.environ, "RADBENCH_SLOT": self.options.tag})
            outcome = attempt_outcome(cell, slot, done.returncode, done.stderr,
                                      time.monotonic() - started)
            if outcome is not None and outcome.ok:
                summary.done.append(cell)
            elif outcome is not None:
                summary.failed.append((cell, outcome.reason))
        return summary

    @classmethod
    def queued_jobs(cls, submitted: list[dict[str, Any]]) -> set[str] | None:
        """Its queue: the job ids listed in the queue.json beside each record."""
        live: set[str] = set()
        for record in submitted:
            queue = record.get("queue")
            if queue:
                live |= set(json.loads(open(queue).read()))
        return live
