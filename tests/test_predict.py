"""Kept models (`run --keep-models`), `radbench predict`, TensorBoard event files and
`report --metric`, on a tiny phantom run in fresh processes, as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_curve

from tests.conftest import EAGER, run_cli
from tests.test_end_to_end import two_cell_grid

pytestmark = pytest.mark.xdist_group("kept_run")  # its module fixture, built once


@pytest.fixture(scope="session")  # with its xdist_group: built once per test run
def kept_run(tmp_path_factory, phantom_root) -> Path:
    out = tmp_path_factory.mktemp("kept") / "run"
    grid = two_cell_grid(out.parent)
    with pytest.MonkeyPatch.context() as patch:  # trained without tracing (conftest's eager)
        patch.setenv(EAGER, "1")
        done = run_cli("run", "demo", "--grid", str(grid), "--data", str(phantom_root),
                       "--out", str(out), "--tensorboard")  # models: the default, best
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def cells_of(out: Path) -> list[Path]:
    return sorted(p.parent for p in (out / "cells").glob("*/result.json"))


def test_a_run_without_flags_keeps_the_best_cells_model_only(kept_run):
    """Two cells of one task and source: the model of the one with the higher validation AUC
    is kept, the other's is not; kept/ records which (`--keep-weights best`, the default)."""
    from sklearn.metrics import roc_auc_score

    val_auc = {c.name: roc_auc_score(*pd.read_csv(c / "val_predictions.csv")[
        ["y_true", "y_score"]].to_numpy().T) for c in cells_of(kept_run)}
    kept = [c.name for c in cells_of(kept_run) if (c / "model.keras").is_file()]
    assert len(val_auc) == 2 and kept == [max(val_auc, key=val_auc.get)]
    (record,) = (kept_run / "kept").glob("demo-*.json")
    assert __import__("json").loads(record.read_text())["cell_id"] == kept[0]


def test_predict_reproduces_a_kept_cells_test_predictions(kept_run, phantom_root, tmp_path):
    (cell,) = [c for c in cells_of(kept_run) if (c / "model.keras").is_file()]
    assert (cell / "val_predictions.csv").is_file()
    target = tmp_path / "scores.csv"
    done = run_cli("predict", str(cell), "--data", str(phantom_root), "--out", str(target))
    assert done.returncode == 0, done.stderr[-3000:]
    scores = pd.read_csv(target)
    (manifest,) = (kept_run / "data").glob("*/manifest.csv")
    paths = pd.read_csv(manifest, dtype=str).set_index("path")["case_id"]
    scores["case_id"] = scores["image"].map(paths)
    stored = pd.read_csv(cell / "predictions.csv", dtype={"case_id": str})
    merged = stored.merge(scores, on="case_id", suffixes=("_stored", "_now"))
    assert len(merged) == len(stored) > 0
    np.testing.assert_allclose(merged["y_score_now"], merged["y_score_stored"], atol=1e-6)
    assert set(scores["predicted"]) <= {"benign", "malignant"}


def test_predict_on_a_run_takes_the_best_kept_cell_on_validation(kept_run, phantom_root):
    from sklearn.metrics import roc_auc_score

    one_image = next(p for p in sorted(phantom_root.rglob("*.png")) if "mask" not in p.name)
    done = run_cli("predict", str(kept_run), "--data", str(one_image))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = pd.read_csv(__import__("io").StringIO(done.stdout))
    assert len(rows) == 1 and rows["source"].tolist() == ["scratch"]
    val_auc = {c.name: roc_auc_score(*pd.read_csv(c / "val_predictions.csv")[
        ["y_true", "y_score"]].to_numpy().T) for c in cells_of(kept_run)}
    assert rows["cell_id"].iloc[0] == max(val_auc, key=val_auc.get)


def test_predict_errors_are_one_line(kept_run, tmp_path):
    (cell,) = [c for c in cells_of(kept_run) if (c / "model.keras").is_file()]
    (other,) = [c for c in cells_of(kept_run) if c != cell]
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, expected in [
        ((str(cell), "--data", str(empty)), "no image files found"),
        ((str(cell), "--data", str(tmp_path / "absent")), "not found"),
        ((str(tmp_path), "--data", str(empty)), "neither a cell directory"),
    ]:
        done = run_cli("predict", *args)
        assert done.returncode == 2 and expected in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    bare = tmp_path / "bare"
    import shutil

    shutil.copytree(cell, bare)
    (bare / "model.keras").unlink()
    done = run_cli("predict", str(bare), "--data", str(empty))
    assert done.returncode == 2 and "no kept model" in done.stderr
    done = run_cli("predict", str(other), "--data", str(empty))  # not the best: not kept
    assert done.returncode == 2 and "keeps only the best cell's of each task and source" \
        in done.stderr


def test_tensorboard_event_files_per_cell(kept_run):
    """Train and validation curves (Keras' callback), and the test AUC (issue 27) at the last
    epoch's step, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    for cell in cells_of(kept_run):
        events = list((cell / "tensorboard").rglob("events.out.tfevents.*"))
        assert {e.parent.name for e in events} >= {"train", "validation", "test"}
        test = EventAccumulator(str(cell / "tensorboard" / "test"))
        test.Reload()
        result = json.loads((cell / "result.json").read_text())
        (auc,) = test.Tensors("test_auc")  # TensorBoard's scalars plugin shows it
        assert float(make_ndarray(auc.tensor_proto)) == pytest.approx(result["test_auc"],
                                                                     abs=1e-6)
        assert auc.step == result["epochs_run"]


def youden(y, scores) -> float:
    fpr, tpr, thresholds = roc_curve(y, scores)
    return min(thresholds[int(np.argmax(tpr - fpr))], 1.0)


def balanced_accuracies(out: Path, scratch: bool | None = None) -> list[float]:
    """Each finished cell's test balanced accuracy at its validation Youden threshold, from its
    stored files and scikit-learn alone (optionally only the scratch, or only the other, cells)."""
    values = []
    for cell in cells_of(out):
        source = json.loads((cell / "result.json").read_text())["source"]
        if scratch is not None and (source == "scratch") != scratch:
            continue
        val = pd.read_csv(cell / "val_predictions.csv")
        test = pd.read_csv(cell / "predictions.csv")
        threshold = youden(val["y_true"], val["y_score"])
        values.append(balanced_accuracy_score(test["y_true"], test["y_score"] >= threshold))
    return values


def test_report_metric_balanced_accuracy_changes_headline_and_tests(kept_run):
    done = run_cli("report", str(kept_run), "--json", "--metric", "balanced_accuracy")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    expected = balanced_accuracies(kept_run)
    (headline,) = [r for r in report["table"] if r["backbone"] == "all"]
    assert headline["mean"] == pytest.approx(np.mean(expected))
    assert headline["sd"] == pytest.approx(np.std(expected, ddof=1))
    cells = {r["cell_id"]: r for r in report["cell_intervals"]}
    assert sorted(c["balanced_accuracy"] for c in cells.values()) == pytest.approx(
        sorted(expected))
    markdown = (kept_run / "report.md").read_text()
    assert "Test balanced accuracy, mean ± SD over scenarios" in markdown
    bad = run_cli("report", str(kept_run), "--metric", "f1")
    assert bad.returncode == 2 and "--metric 'f1': unknown metric" in bad.stderr
