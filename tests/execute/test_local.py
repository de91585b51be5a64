"""The local executor with real cell processes: out-of-memory retries with a smaller batch,
no retry for deterministic failures, the consecutive-failure budget, two runs on one
directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import foreign_weights, REPO, run_cli

pytestmark = pytest.mark.usefixtures("eager")  # cells trained without tracing (conftest)


def grid_file(tmp_path: Path, name: str, lrs: list[float], **extra) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "freezeall", "lr": lrs}], "folds": 1,
        "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16}, **extra}))
    return path


def run_with_env(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radbench.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **env}, timeout=900)


def cells(out: Path) -> list[Path]:
    return sorted(p for p in (out / "cells").iterdir() if p.is_dir())


def attempts(cell: Path) -> list[dict]:
    return [json.loads(line) for line in (cell / "attempts.jsonl").read_text().splitlines()]


@pytest.mark.slow  # three attempts; the retry decision: tests/execute/test_policy.py
def test_out_of_memory_retries_with_half_the_batch_when_the_grid_allows(tmp_path, phantom_root):
    """The GPU's out-of-memory error is injected (tests/faults) since no CPU test can exhaust a
    GPU; everything after it is the real path."""
    oom = {"RADBENCH_TEST_OOM_ABOVE_BATCH": "8",
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests" / "faults"), str(REPO)])}
    halving = grid_file(tmp_path, "halving", [1e-3], execution={
        "retries": 2, "on_out_of_memory": {"halve_batch": True, "min_batch_size": 4}})
    out = tmp_path / "halving-run"
    done = run_with_env(oom, "run", "demo", "--grid", str(halving), "--data", str(phantom_root),
                        "--out", str(out), "--max-parallel", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "16 -> 8" in done.stderr
    (cell,) = cells(out)
    assert [a["batch_size"] for a in attempts(cell)] == [16, 8]
    result = json.loads((cell / "result.json").read_text())
    assert result["batch_size"] == 16 and result["batch_size_used"] == 8
    assert result["overrides"]["changes"][0]["batch_size"] == {"from": 16, "to": 8}
    assert result["attempt"] == 2 and not (cell / "failure.json").exists()
    log = (cell / "log.txt").read_text()
    assert "=== attempt 1" in log and "=== attempt 2" in log and "out of memory" in log

    same_batch = grid_file(tmp_path, "same", [1e-3])
    out = tmp_path / "same-run"
    failed = run_with_env(oom, "run", "demo", "--grid", str(same_batch), "--data",
                          str(phantom_root), "--out", str(out), "--retries", "1")
    assert failed.returncode == 1
    (cell,) = cells(out)
    failure = json.loads((cell / "failure.json").read_text())
    assert failure["kind"] == "out_of_memory" and failure["batch_size"] == 16
    assert [a["batch_size"] for a in attempts(cell)] == [16, 16]  # retried, same batch
    assert str(cell / "log.txt") in failed.stderr


DIVERGE = {"PYTHONPATH": os.pathsep.join([str(REPO / "tests" / "faults"), str(REPO)])}


def test_deterministic_failures_are_not_retried_and_the_budget_stops_the_grid(tmp_path,
                                                                               phantom_root):
    """Cells that diverge (injected: tests/faults) fail for a reason of their own."""
    grid = grid_file(tmp_path, "three", [1e-2, 1e-3, 1e-4])
    out = tmp_path / "run"
    done = run_with_env({**DIVERGE, "RADBENCH_TEST_DIVERGE_LR": "0.01,0.001,0.0001"}, "run",
                        "demo", "--grid", str(grid), "--data", str(phantom_root), "--out",
                        str(out), "--retries", "2", "--max-consecutive-failures", "2")
    assert done.returncode == 1
    assert "stopped after 2 cells in a row failed" in done.stderr
    assert "1 cell(s) not started" in done.stderr
    tried = [c for c in cells(out) if (c / "attempts.jsonl").exists()]
    assert len(tried) == 2 and all(len(attempts(c)) == 1 for c in tried)
    status = json.loads(run_cli("status", str(out), "--json").stdout)["counts"]
    assert status["failed"] == 2 and status["pending"] == 1
    failure = json.loads((tried[0] / "failure.json").read_text())
    assert failure["kind"] == "FloatingPointError" and "became NaN" in failure["reason"]


@pytest.mark.slow  # in the default suite: corpus kinds run-source-another-architecture, -nan-*
def test_weights_that_cannot_train_stop_the_run_before_any_cell(tmp_path, phantom_root):
    """Issue 27: a file of another architecture, and one filled with NaN, passed the check
    before training and failed every cell with exit 1. Both are loaded into the backbone before
    the first cell now: one line, exit 2, no cell started."""
    import h5py
    import numpy as np

    from radbench.models.backbones import get_backbone

    foreign = foreign_weights(tmp_path / "foreign.weights.h5")
    nan = tmp_path / "nan.weights.h5"
    get_backbone("MobileNetV3Small").build(32).save_weights(nan)
    with h5py.File(nan, "r+") as handle:  # one BatchNorm moving mean NaN
        handle["layers/batch_normalization/vars/2"][...] = np.nan
    grid = grid_file(tmp_path, "one", [1e-2])
    for weights, said in ((foreign, "does not load into MobileNetV3Small (ValueError: A total "
                                    "of"), (nan, "holds non-finite values (NaN or infinity)")):
        out = tmp_path / f"run-{weights.stem}"
        done = run_cli("run", "demo", "--grid", str(grid), "--data", str(phantom_root), "--out",
                       str(out), "--sources", f"file:{weights}")
        assert done.returncode == 2, done.stderr[-3000:]
        assert done.stderr.strip().splitlines()[-1].startswith(
            f"error: source 'file:{weights}': {weights} {said}"), done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "UserWarning" not in done.stderr
        assert not (out / "cells").exists() or not any((out / "cells").rglob("attempts.jsonl"))


@pytest.mark.slow
def test_two_runs_on_one_directory_never_train_the_same_cell(tmp_path, phantom_root):
    grid = grid_file(tmp_path, "two", [1e-2, 1e-3])
    out = tmp_path / "run"
    args = [sys.executable, "-m", "radbench.cli", "run", "demo", "--grid", str(grid), "--data",
            str(phantom_root), "--out", str(out)]
    first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    second = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    outputs = [p.communicate(timeout=900) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    for cell in cells(out):
        assert len(attempts(cell)) == 1, cell
        assert (cell / "result.json").is_file()
    record = json.loads((out / "run.json").read_text())
    assert len(record["invocations"]) == 2  # neither run lost the other's record


def _files(cell: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cell.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_a_warm_worker_killed_mid_cell_takes_down_only_that_cell(tmp_path, phantom_root):
    """Issue 30: a slot's worker runs model group after model group (one process, one pid);
    killed in its second cell, that cell is recorded crashed, the next cell starts in a fresh
    worker, the first cell's files do not change, and the same command then finishes the grid
    (a cell killed by the system is not the cell's own failure)."""
    import signal
    import time

    grid = tmp_path / "three.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "three", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "freezeall", "lr": [1e-2]},
                     {"freeze": "unfreezetop10", "lr": [1e-2]},
                     {"freeze": "unfreezeall", "lr": [1e-3]}], "folds": 1,
        "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16}}))
    out = tmp_path / "run"
    args = ["run", "demo", "--grid", str(grid), "--data", str(phantom_root), "--out", str(out),
            "--max-parallel", "1"]
    run = subprocess.Popen([sys.executable, "-m", "radbench.cli", *args], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while True:  # the second cell started, in the first cell's process
        started = {c: attempts(c)[-1] for c in (cells(out) if (out / "cells").is_dir() else [])
                   if (c / "attempts.jsonl").is_file() and (c / "attempts.jsonl").stat().st_size}
        done = [c for c in started if (c / "result.json").is_file()]
        second = [c for c in started if c not in done]
        if done and second:
            break
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.05)
    (first,), (second,) = done, second
    worker = started[second]["pid"]
    assert worker == started[first]["pid"]  # one warm process for both model groups
    before = _files(first)
    os.kill(worker, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode == 1, stderr[-3000:]
    failure = json.loads((second / "failure.json").read_text())
    assert failure["kind"] == "crashed" and failure["exit_code"] == -9
    (third,) = [c for c in cells(out) if c not in (first, second)]
    assert (third / "result.json").is_file() and attempts(third)[-1]["pid"] != worker
    assert _files(first) == before
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [len(attempts(c)) for c in (first, second, third)] == [1, 2, 1]
    assert all((c / "result.json").is_file() for c in cells(out))
