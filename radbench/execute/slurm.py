"""The Slurm executor: one job array per submission through submitit, one cell per array task.

The array index → cell mapping is fixed before submission (the order of `cells`) and recorded in
`slurm/submissions.jsonl` and in each cell's `submitted.json`. Each array task runs the same cell
process as the local executor (lock, heartbeat, log, result), retries transient failures as the
policy allows, and is requeued by submitit when Slurm preempts it or its time runs out.
`radbench run --executor slurm` returns after submission; `radbench status DIR` follows the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field

from radbench.errors import ConfigError
from radbench.execute.heartbeat import slurm_job_id
from radbench.execute.attempt import attempt_outcome, worker_command
from radbench.execute.executor import ExecutionSummary, Executor
from radbench.execute.policy import FailureBudget, RetryPolicy
from radbench.execute.slots import Slot
from radbench.store import CellDir, RunDir


class SlurmOptions(BaseModel):
    """sbatch settings: the grid's `executors: {slurm: ...}` section with the command line's
    options (`--slurm-partition`, `--executor-option mem_gb=32`...) applied over it."""

    model_config = ConfigDict(extra="forbid")

    partition: str | None = None
    time_min: int = Field(240, ge=1, description="time limit of one cell's job, minutes")
    gpus_per_task: int = Field(1, ge=0)
    cpus_per_task: int = Field(4, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    array_parallelism: int = Field(64, ge=1, description="array tasks running at once")
    additional_parameters: dict[str, Union[str, int, float, bool]] = Field(
        default_factory=dict, description="extra sbatch options, e.g. {account: lab, qos: high}")
    setup: list[str] = Field(default_factory=list, description="shell lines run before the "
                                                               "cell, e.g. module load cuda")

    def executor_parameters(self) -> dict[str, Any]:
        # requeue-able whatever the cluster's JobRequeue default: a preempted or requeued task
        # runs again and its cell resumes at its next epoch (radbench.train.resume);
        # `additional_parameters: {requeue: false}` asks for --no-requeue
        extra: dict[str, Any] = {"requeue": True, **self.additional_parameters}
        if extra["requeue"] is False:
            extra.pop("requeue")
            extra["no_requeue"] = True
        parameters: dict[str, Any] = {
            "time": self.time_min, "cpus_per_task": self.cpus_per_task,
            "array_parallelism": self.array_parallelism, "job_name": "radbench",
            "additional_parameters": {k: v for k, v in extra.items() if v is not False},
            "setup": list(self.setup),
        }
        if self.partition:
            parameters["partition"] = self.partition
        if self.gpus_per_task:  # one task per job: --gres works where --gpus-per-task needs -n
            parameters["gres"] = f"gpu:{self.gpus_per_task}"
        if self.mem_gb:
            parameters["mem"] = f"{int(self.mem_gb * 1024)}M"
        return parameters


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm needs submitit: pip install submitit") from None
    return submitit


class CellJob:
    """The callable each array task runs (pickled by submitit; requeued on preemption)."""

    def __call__(self, cell_path: str, policy: dict[str, Any], submission: str) -> str:
        cell = CellDir(Path(cell_path))
        rules = RetryPolicy.from_dict(policy)
        if _budget_spent(cell, rules, submission):
            cell.submitted_file.unlink(missing_ok=True)
            return "not started: the array's failure budget is spent"
        env = dict(os.environ)  # keeps the CUDA_VISIBLE_DEVICES Slurm chose
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["RADBENCH_SLOT"] = f"slurm {slurm_job_id()}"
        slot = Slot(env["RADBENCH_SLOT"], env.get("CUDA_VISIBLE_DEVICES"))
        attempts = 0
        while True:
            attempts += 1
            started = time.monotonic()
            done = subprocess.run(worker_command(cell), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
            outcome = attempt_outcome(cell, slot, done.returncode, done.stderr,
                                      time.monotonic() - started)
            if outcome is None:
                return "busy: another process ran this cell"
            if outcome.ok:
                return "done"
            if done.returncode in (-signal.SIGTERM, -signal.SIGKILL):
                # preempted, requeued or cancelled: Slurm ends this task too; the requeued
                # task (or the next `radbench run`) resumes the cell at its next epoch
                return f"interrupted: {outcome.reason}"
            failure = cell.failure()
            change = None if failure is None else rules.retry(cell, failure, attempts)
            if change is None:
                return f"failed: {outcome.reason}"
            print(f"retrying {cell.id}: {change or outcome.reason}", flush=True)

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Preempted or out of time: submitit requeues the same call; the cell's lock and
        heartbeat make the new attempt start clean."""
        return _submitit().helpers.DelayedSubmission(self, *args, **kwargs)


def _budget_spent(cell: CellDir, policy: RetryPolicy, submission: str) -> bool:
    """True when the cells of this submission that ended since it was submitted, replayed in
    the order they ended, leave the failure budget spent (the last K to end all failed)."""
    run = cell.run
    record = next((r for r in run.submissions() if r.get("submission") == submission), None)
    if record is None:
        return False
    since, ended = record["submitted_at"], []
    for other in (run.cell(other_id) for other_id in record["cells"]):
        for path, ok in ((other.result_file, True), (other.failure_file, False)):
            if path.is_file() and path.stat().st_mtime >= since:
                ended.append((path.stat().st_mtime, ok))
                break
    budget = FailureBudget(policy.max_consecutive_failures)
    for _, ok in sorted(ended):
        budget.record(ok)
    return budget.exhausted


def check_slurm_available(options: SlurmOptions | None = None) -> None:
    """submitit importable, sbatch on PATH and, given `options`, `sbatch --test-only` accepting
    them (partition, GPUs, time); else a one-line ConfigError before anything is written."""
    _submitit()
    if not shutil.which("sbatch"):
        raise ConfigError("--executor slurm: sbatch not found on PATH (run on a Slurm login "
                          "node, or use --executor local)")
    if options is None:
        return
    parameters = options.executor_parameters()
    command = ["sbatch", "--test-only", "--wrap", "true", f"--time={parameters['time']}",
               f"--cpus-per-task={parameters['cpus_per_task']}"]
    for key, flag in (("partition", "--partition"), ("gres", "--gres"), ("mem", "--mem")):
        if key in parameters:
            command.append(f"{flag}={parameters[key]}")
    for key, value in parameters["additional_parameters"].items():
        command.append(f"--{key.replace('_', '-')}" + ("" if value is True else f"={value}"))
    try:
        tested = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"--executor slurm: `sbatch --test-only` did not answer: {exc}") \
            from None
    if tested.returncode != 0:
        said = (tested.stderr or tested.stdout).strip().splitlines()
        raise ConfigError(f"--executor slurm: sbatch refuses these settings "
                          f"({' '.join(command[4:])}): {said[-1] if said else 'no reason given'}")


def submit_slurm(out: Path, cells: list[CellDir], options: SlurmOptions,
                 policy: RetryPolicy) -> str:
    """Submit `cells` as one job array; returns the array's job id."""
    submitit = _submitit()
    run = RunDir(Path(out).resolve())
    folder = run.slurm_dir
    folder.mkdir(parents=True, exist_ok=True)
    executor = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=3)
    executor.update_parameters(**options.executor_parameters())
    submission = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    submitted_at = time.time()
    paths = [str(c.path.resolve()) for c in cells]
    # the record is written before sbatch runs, so that array tasks can read it
    record = {"submission": submission, "submitted_at": submitted_at,
              "cells": [c.id for c in cells], "options": options.model_dump(),
              "policy": policy.to_dict(), "job_id": None}
    run.append_submission(record)
    try:
        jobs = executor.map_array(CellJob(), paths, [policy.to_dict()] * len(cells),
                                  [submission] * len(cells))
    except Exception as exc:  # sbatch refused (bad partition, limits...): nothing was queued
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"sbatch refused the job array: {message}") from None
    array_id = jobs[0].job_id.split("_")[0]
    for index, (cell, job) in enumerate(zip(cells, jobs)):
        cell.write_submitted({"executor": "slurm", "job_id": job.job_id,
                              "array_job_id": array_id,
                              "array_index": index, "submission": submission,
                              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "logs": str(folder / f"{array_id}_{index}")})
    run.append_submission({**record, "job_id": array_id})
    return array_id


def queued_slurm_jobs() -> set[str] | None:
    """Slurm job ids (`JOB_INDEX` for array tasks) that are pending or running, or None when
    `squeue` is not available or fails."""
    if not shutil.which("squeue"):
        return None
    try:
        listed = subprocess.run(["squeue", "-h", "--array", "-o", "%i"], capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    return {line.strip() for line in listed.stdout.splitlines() if line.strip()}


class SlurmExecutor(Executor):
    """One Slurm job array per submission (submitit); returns once the array is queued."""

    name = "slurm"
    Options = SlurmOptions

    def check(self) -> None:
        if not self.settings.dry_run:
            check_slurm_available(self.options)

    @classmethod
    def queued_jobs(cls, submitted: list[dict[str, Any]]) -> set[str] | None:
        return queued_slurm_jobs()

    def execute(self, cells: list[CellDir], labels: dict[str, str], policy: RetryPolicy,
                console) -> ExecutionSummary:
        summary = ExecutionSummary()
        if not cells:
            console.print("nothing to submit", highlight=False)
            return summary
        summary.job_id = submit_slurm(self.settings.out, cells, self.options, policy)
        summary.submitted = len(cells)
        console.print(f"submitted {len(cells)} cell(s) as Slurm job array {summary.job_id} "
                      f"(logs in {RunDir(self.settings.out).slurm_dir}); follow with `radbench "
                      f"status {self.settings.out}`, then `radbench report "
                      f"{self.settings.out}`", highlight=False)
        return summary
