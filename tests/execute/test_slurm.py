"""The Slurm executor against a real one-machine cluster (slurm-wlm, munge; CI installs them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from radbench.config.schema import GridConfig
from radbench.errors import ConfigError
from radbench.execute.executor import ExecutorSettings
from radbench.execute.registry import EXECUTORS
from tests.conftest import REPO
from tests.execute.test_chaos import _epoch_in

pytestmark = pytest.mark.usefixtures("eager")  # cells trained without tracing (conftest)


def cli(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radbench.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=timeout)


def test_slurm_options_take_grid_values_and_command_line_overrides():
    grid = GridConfig.model_validate({
        "name": "g", "sources": ["scratch"], "backbones": ["ResNet50"],
        "settings": [{"freeze": "freezeall", "lr": [0.01]}],
        "executors": {"slurm": {"partition": "gpu", "time_min": 30, "mem_gb": 16,
                                "additional_parameters": {"account": "lab"},
                                "setup": ["module load cuda"]}}})
    slurm = EXECUTORS["slurm"].load()
    executor = slurm(ExecutorSettings(out=None, grid=grid, dry_run=True,
                                      options={"partition": "debug", "gpus_per_task": None}))
    parameters = executor.options.executor_parameters()
    assert parameters["partition"] == "debug" and parameters["time"] == 30
    assert parameters["gres"] == "gpu:1" and parameters["mem"] == "16384M"
    # submitted requeue-able unless the grid says otherwise (issue 27)
    assert parameters["additional_parameters"] == {"requeue": True, "account": "lab"}
    grid.executors["slurm"]["additional_parameters"]["requeue"] = False
    refused = slurm(ExecutorSettings(out=None, grid=grid, dry_run=True)).options
    assert refused.executor_parameters()["additional_parameters"] == {"account": "lab",
                                                                      "no_requeue": True}
    assert parameters["setup"] == ["module load cuda"]


@pytest.mark.slow
def test_grid_runs_through_a_real_slurm_cluster(tmp_path, phantom_root, slurm_cluster):
    grid = tmp_path / "two.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "two", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "freezeall", "lr": [1e-2, 1e-3]}], "folds": 1,
        "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16},
        "executors": {"slurm": {"cpus_per_task": 1, "time_min": 20,
                                "additional_parameters": {"comment": "radbench-test"}}}}))
    env = {**slurm_cluster.env, "RADBENCH_CACHE": os.environ["RADBENCH_CACHE"]}
    refused = tmp_path / "refused"
    bad = cli(env, "run", "demo", "--grid", str(grid), "--data", str(phantom_root), "--out",
              str(refused), "--executor", "slurm", "--slurm-partition", "nosuch")
    assert bad.returncode == 2 and "sbatch refuses these settings" in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and not refused.exists()  # nothing written
    out = tmp_path / "run"
    args = ["run", "demo", "--grid", str(grid), "--data", str(phantom_root), "--out", str(out),
            "--executor", "slurm", "--slurm-partition", "debug", "--slurm-gpus-per-task", "1",
            "--array-parallelism", "2"]
    submitted = cli(env, *args)
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    assert "submitted 2 cell(s) as Slurm job array" in submitted.stderr
    # the command returned after submission: the cells are queued or running, none done yet
    first = json.loads(cli(env, "status", str(out), "--json").stdout)
    assert first["counts"]["done"] == 0
    assert first["counts"]["queued"] + first["counts"]["running"] == 2
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline:
        state = json.loads(cli(env, "status", str(out), "--json").stdout)
        if state["counts"]["done"] + state["counts"]["failed"] == 2:
            break
        time.sleep(3)
    assert state["counts"]["done"] == 2, (state, slurm_cluster.log_tail("slurmctld", 20))
    array_ids = set()
    for cell in (out / "cells").iterdir():
        submission = json.loads((cell / "submitted.json").read_text())
        (attempt,) = [json.loads(line) for line in (cell / "attempts.jsonl").read_text()
                      .splitlines()]
        # the array task that trained the cell is the one recorded at submission
        assert attempt["slurm_job_id"] == submission["job_id"]
        assert attempt["gpus"] in {"0", "1"}  # Slurm gave each task one (fake) GPU
        array_ids.add(submission["array_job_id"])
        result = json.loads((cell / "result.json").read_text())
        predictions = pd.read_csv(cell / "predictions.csv")
        assert result["test_auc"] == pytest.approx(
            roc_auc_score(predictions["y_true"], predictions["y_score"]))
    assert len(array_ids) == 1
    (array_id,) = array_ids
    logs = list((out / "slurm").glob(f"{array_id}_*/*_log.out"))
    assert len(logs) == 2
    sbatch = next((out / "slurm").glob(f"{array_id}_*/*submission.sh"), None) or \
        next((out / "slurm").rglob("*submission.sh"))
    script = sbatch.read_text()
    assert "--gres=gpu:1" in script and "--comment=radbench-test" in script
    report = cli(env, "report", str(out), "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["cells"]["done"] == 2
    again = cli(env, *args)
    assert again.returncode == 0 and "2 cell(s) already done" in again.stderr
    assert "nothing to submit" in again.stderr



@pytest.mark.slow
def test_a_requeued_slurm_task_resumes_its_cell_at_the_next_epoch(tmp_path, phantom_root,
                                                                    slurm_cluster):
    """Issue 27: the array is submitted requeue-able; `scontrol requeue` (what a preempting
    cluster and submitit's time-out handler do) kills the running task mid-training, Slurm starts
    it again under the same job id, and the cell continues from its last finished epoch."""
    grid = tmp_path / "one.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "one", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "unfreezeall", "lr": [1e-3]}], "folds": [0],
        "overrides": {"image_size": 32, "epochs": 4, "batch_size": 8},
        "executors": {"slurm": {"cpus_per_task": 1, "gpus_per_task": 0, "time_min": 20}}}))
    env = {**slurm_cluster.env, "RADBENCH_CACHE": os.environ["RADBENCH_CACHE"]}
    out = tmp_path / "run"
    submitted = cli(env, "run", "demo", "--grid", str(grid), "--data", str(phantom_root),
                    "--out", str(out), "--executor", "slurm")
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    (cell,) = list((out / "cells").iterdir())
    job = json.loads((cell / "submitted.json").read_text())["job_id"]
    script = next((out / "slurm").rglob("*submission.sh")).read_text()
    assert "#SBATCH --requeue" in script
    deadline = time.monotonic() + 300
    while _epoch_in(cell) < 2:  # an epoch finished: its checkpoint is on disk
        assert not (cell / "result.json").exists(), "the cell ended before it was requeued"
        assert time.monotonic() < deadline, slurm_cluster.log_tail("slurmctld", 20)
        time.sleep(0.1)
    assert (cell / "resume.npz").is_file()
    requeued = subprocess.run(["scontrol", "requeue", job], env=env, capture_output=True,
                              text=True)
    assert requeued.returncode == 0, requeued.stderr
    # Slurm holds a requeued job for two minutes (its BeginTime): released here once pending
    deadline = time.monotonic() + 60
    while "JobState=PENDING" not in (shown := subprocess.run(
            ["scontrol", "show", "job", job], env=env, capture_output=True, text=True).stdout):
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=env, check=True,
                   capture_output=True)
    deadline = time.monotonic() + 400
    while not (cell / "result.json").exists():
        assert time.monotonic() < deadline, (
            (cell / "log.txt").read_text()[-2000:], slurm_cluster.log_tail("slurmctld", 20))
        time.sleep(1)
    result = json.loads((cell / "result.json").read_text())
    assert result["resumed_from_epoch"] >= 1 and not (cell / "resume.npz").exists()
    tries = [json.loads(line) for line in (cell / "attempts.jsonl").read_text().splitlines()]
    assert len(tries) == 2 and {t["slurm_job_id"] for t in tries} == {job}
    assert "resumed at epoch" in (cell / "log.txt").read_text()
    state = json.loads(cli(env, "status", str(out), "--json").stdout)
    assert state["counts"]["done"] == 1

def test_bad_slurm_options_name_their_key():
    grid = GridConfig.model_validate({
        "name": "g", "sources": ["scratch"], "backbones": ["ResNet50"],
        "settings": [{"freeze": "freezeall", "lr": [0.01]}],
        "executors": {"slurm": {"time_min": 0}}})
    slurm = EXECUTORS["slurm"].load()
    with pytest.raises(ConfigError, match=r"g: key 'executors.slurm.time_min': input should be "
                                          r"greater than or equal to 1"):
        slurm(ExecutorSettings(out=None, grid=grid, dry_run=True))
    with pytest.raises(ConfigError, match=r"--executor-option qos: extra inputs are not "
                                          r"permitted \(--executor slurm\)"):
        slurm(ExecutorSettings(out=None, grid=grid.model_copy(update={"executors": {}}),
                               dry_run=True, options={"qos": "high"}))
