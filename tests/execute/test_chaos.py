"""Chaos: a grid run killed with SIGKILL (runner and cell processes together) at random moments,
resumed each time, ends with every cell done exactly once and every result file valid."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from radbench.atomic import atomic_write_text
from tests.conftest import REPO, run_cli
from tests.execute.test_local import attempts, cells

WRITER = """
import sys
import time
from pathlib import Path
from radbench.atomic import atomic_write_text
print("writing", flush=True)
atomic_write_text(Path(sys.argv[1]), "x" * 400_000_000)
"""


def test_a_kill_during_a_result_write_leaves_the_old_file_or_none(tmp_path):
    target = tmp_path / "cell" / "result.json"
    atomic_write_text(target, '{"old": true}\n')
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)],
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".result.json.") for p in target.parent.iterdir()):
        assert time.monotonic() < deadline, "the writer never started its temporary file"
    # the temporary file exists: the write is under way
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert target.read_text() == '{"old": true}\n'
    from radbench.store import CellDir

    CellDir(target.parent).clear_outputs()  # the next attempt removes the torn temporary file
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def check_results(out: Path, first_seen: dict[str, tuple[int, str]]) -> None:
    """Every result.json is valid and, once written, never rewritten."""
    for path in (out / "cells").glob("*/result.json"):
        text = path.read_text()
        result = json.loads(text)
        predictions = pd.read_csv(path.parent / "predictions.csv")  # written before the result
        assert result["test_auc"] == pytest.approx(
            roc_auc_score(predictions["y_true"], predictions["y_score"]))
        stamp = (path.stat().st_mtime_ns, text)
        assert first_seen.setdefault(path.parent.name, stamp) == stamp, "a finished cell re-ran"


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_ends_with_each_cell_done_once(tmp_path,
                                                                              phantom_root):
    # 9 cells in 3 model groups (2 warm workers): about 45 s uninterrupted here, longer
    # than the random delays below (0.5 to 15 s), so progress comes only kill by kill
    grid = tmp_path / "nine.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "nine", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": f, "lr": [1e-2, 1e-3, 1e-4]}
                     for f in ("freezeall", "unfreezetop10", "unfreezeall")],
        "folds": 1, "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16}}))
    out = tmp_path / "run"
    run_args = ["run", "demo", "--grid", str(grid), "--data", str(phantom_root), "--out",
                str(out), "--max-parallel", "2"]
    rng = random.Random(20261125)
    first_seen: dict[str, tuple[int, str]] = {}
    kills = 0
    for round_ in range(7):  # waits of 12.7, 0.6, 7.1, 4.1, 1.0, 6.3 and 10.2 s
        resume = round_ % 2 == 1 and (out / "run.json").is_file()
        args = ["resume", str(out), "--max-parallel", "2"] if resume else run_args
        process = subprocess.Popen([sys.executable, "-m", "radbench.cli", *args], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=rng.uniform(0.5, 15))
            assert code == 0, f"round {round_}: {args[0]} exited with {code}"
            break
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the runner and its cell processes at once
            process.wait()
            kills += 1
        check_results(out, first_seen)
    final = run_cli("resume", str(out), "--max-parallel", "2")
    assert final.returncode == 0, final.stderr[-3000:]
    check_results(out, first_seen)
    assert kills >= 5
    done = cells(out)
    assert len(done) == 9
    for cell in done:
        result = json.loads((cell / "result.json").read_text())
        predictions = pd.read_csv(cell / "predictions.csv")
        assert result["test_auc"] == pytest.approx(
            roc_auc_score(predictions["y_true"], predictions["y_score"]))
        tried = attempts(cell)
        # the attempt that wrote the result is the last one that started
        assert result["attempt"] == max(a["attempt"] for a in tried) == len(tried)
        assert not (cell / "failure.json").exists()
    status = json.loads(run_cli("status", str(out), "--json").stdout)["counts"]
    assert status["done"] == 9 and sum(status.values()) == 9
    # the kills did interrupt training: some cell needed more than one attempt
    assert sum(len(attempts(c)) for c in done) > len(done)


def _epoch_in(cell: Path) -> int:
    """The epoch the cell's heartbeat says it is in (0: none yet)."""
    try:
        return int(json.loads((cell / "heartbeat.json").read_text()).get("epoch") or 0)
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_a_cell_killed_mid_epoch_resumes_at_its_next_epoch_with_the_same_predictions(
        tmp_path, phantom_root, eager):
    """Issue 27: a cell killed (SIGKILL, runner and cell process together) at a random moment
    of five epochs in turn continues each time from its last finished epoch, and ends with the
    predictions, history and kept epoch of the same cell run without interruption."""
    grid = tmp_path / "one.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "one", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "unfreezeall", "lr": [1e-3]}], "folds": [0],
        "overrides": {"image_size": 32, "epochs": 6, "batch_size": 8}}))

    def run(out: Path) -> list[str]:
        return ["run", "demo", "--grid", str(grid), "--data", str(phantom_root), "--out",
                str(out)]

    whole = run_cli(*run(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    out = tmp_path / "killed"
    rng = random.Random(20261208)
    for target in range(2, 7):  # killed in epochs 2 to 6, each at a random moment of it
        process = subprocess.Popen([sys.executable, "-m", "radbench.cli", *run(out)], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.monotonic() + 300
        while not (found := list((out / "cells").glob("*"))) or _epoch_in(found[0]) < target:
            assert process.poll() is None, f"the run ended before epoch {target}"
            assert time.monotonic() < deadline, f"epoch {target} never began"
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 0.6))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        (cell,) = found
        assert not (cell / "result.json").exists()
        with np.load(cell / "resume.npz") as stored:  # the checkpoint of the last whole epoch
            assert json.loads(str(stored["meta"]))["epoch"] >= target - 1
    last = run_cli(*run(out))
    assert last.returncode == 0, last.stderr[-3000:]
    (cell,) = found
    (reference,) = list((tmp_path / "whole" / "cells").glob("*"))
    assert cell.name == reference.name and not (cell / "resume.npz").exists()
    assert (cell / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()
    assert (cell / "val_predictions.csv").read_text() == \
        (reference / "val_predictions.csv").read_text()
    columns = ["epoch", "loss", "val_loss", "accuracy", "val_accuracy"]
    assert pd.read_csv(cell / "history.csv")[columns].equals(
        pd.read_csv(reference / "history.csv")[columns])
    result, expected = (json.loads((c / "result.json").read_text()) for c in (cell, reference))
    assert result["best_epoch"] == expected["best_epoch"] and result["test_auc"] == \
        expected["test_auc"]
    assert result["resumed_from_epoch"] >= 5 and expected["resumed_from_epoch"] is None
    assert len(attempts(cell)) == 6
    assert "resumed at epoch" in (cell / "log.txt").read_text()
