"""A three-class task end to end (BUSI normal / benign / malignant), as a user types it: macro
one-vs-rest AUC from predictions.csv by scikit-learn, per-class AUC, a probe cell, predict, and
`task init --all-classes`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from tests.conftest import run_cli

NAMES = ["normal", "benign", "malignant"]
COLUMNS = [f"score_{n}" for n in NAMES]

pytestmark = pytest.mark.usefixtures("eager")  # cells trained without tracing (conftest)


@pytest.mark.slow  # two cells, a report and predict: about 2 min on 2 cores
def test_three_class_busi_end_to_end(tmp_path, busi_root):
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "g", "sources": ["scratch"], "backbones": ["MobileNetV3Small"], "folds": 1,
        "settings": [{"freeze": "unfreezeall", "lr": [1e-3]}, {"freeze": "probe"}],
        "overrides": {"image_size": 32, "epochs": 2, "batch_size": 16}}))
    out = tmp_path / "run"
    done = run_cli("run", "breast3", "--grid", str(grid), "--data", str(busi_root), "--out",
                   str(out), "--max-images", "120", "--keep-weights", "all")
    assert done.returncode == 0, done.stderr[-3000:]
    results = {}
    for path in sorted(out.glob("cells/*/result.json")):
        result = json.loads(path.read_text())
        predictions = pd.read_csv(path.parent / "predictions.csv")
        assert set(predictions["y_true"]) == {0, 1, 2}
        np.testing.assert_allclose(predictions[COLUMNS].sum(axis=1), 1.0, atol=1e-5)
        macro = roc_auc_score(predictions["y_true"], predictions[COLUMNS], multi_class="ovr",
                              average="macro")
        assert result["test_auc"] == pytest.approx(macro)
        assert result["metrics"]["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(
            predictions["y_true"], predictions[COLUMNS].to_numpy().argmax(axis=1)))
        for index, name in enumerate(NAMES):
            assert result["metrics"][f"auc_{name}"] == pytest.approx(roc_auc_score(
                predictions["y_true"] == index, predictions[f"score_{name}"]))
        results[result["freeze"]] = (path.parent, result)
    assert sorted(results) == ["probe", "unfreezeall"]
    report = json.loads(run_cli("report", str(out), "--json").stdout)
    by_freeze = {r["freeze"]: r["mean"] for r in report["by_freeze"]}
    assert by_freeze == pytest.approx({k: r["test_auc"] for k, (_, r) in results.items()})
    assert {f"AUC {n}" for n in NAMES} <= set(report["per_class_auc"][0])
    assert report["cell_intervals"] == []  # DeLong is for two classes; said in the report
    cell, _ = results["unfreezeall"]
    target = tmp_path / "scores.csv"
    assert run_cli("predict", str(cell), "--data", str(busi_root), "--out",
                   str(target)).returncode == 0
    scores = pd.read_csv(target)
    (manifest,) = (out / "data").glob("*/manifest.csv")
    paths = pd.read_csv(manifest, dtype=str).set_index("path")["case_id"]
    merged = pd.read_csv(cell / "predictions.csv", dtype={"case_id": str}).merge(
        scores.assign(case_id=scores["image"].map(paths)), on="case_id",
        suffixes=("", "_now"))
    assert len(merged) == len(pd.read_csv(cell / "predictions.csv"))
    for column in COLUMNS:
        np.testing.assert_allclose(merged[f"{column}_now"], merged[column], atol=1e-6)
    assert set(merged["predicted"]) <= set(NAMES)


def test_task_init_all_classes_writes_a_multiclass_task(tmp_path):
    data = tmp_path / "scans"
    rng = np.random.default_rng(0)
    for label in ("alpha", "beta", "gamma"):
        (data / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(
                data / label / f"p{i}_{label}.png")
    out = tmp_path / "scans.yaml"
    done = run_cli("task", "init", "scans", "--layout", "folders", "--data", str(data),
                   "--all-classes", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "3 classes" in done.stderr
    config = yaml.safe_load(out.read_text())
    assert config["classes"] == {"names": ["alpha", "beta", "gamma"]}
    both = run_cli("task", "init", "s2", "--layout", "folders", "--data", str(data),
                   "--all-classes", "--positive", "beta", "--out", str(tmp_path / "s2.yaml"))
    assert both.returncode == 2 and "leave --positive out" in both.stderr


def test_a_three_class_task_takes_no_positive_class():
    from pydantic import ValidationError

    from radbench.config.schema import ClassesSpec

    assert ClassesSpec(names=["a", "b", "c"]).multiclass
    with pytest.raises(ValidationError, match="has no positive class"):
        ClassesSpec(names=["a", "b", "c"], positive="a")
    with pytest.raises(ValidationError, match="names its positive class"):
        ClassesSpec(names=["a", "b"])


def test_ccii3_reads_the_three_classes_of_a_cc_ccii_layout(tmp_path):
    """The shipped three-class CC-CCII task on a miniature of the release's layout
    (NCP|CP|Normal/<patient>/<scan>/*.png): every class kept, grouped by patient (three
    patients per class, the fewest a patient-grouped split can spread over train, val, test)."""
    rng = np.random.default_rng(1)
    for label in ("NCP", "CP", "Normal"):
        for patient in range(3):
            scan = tmp_path / "ccii" / label / f"{label}{patient}" / "scan0"
            scan.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(
                    scan / f"{i:04d}.png")
    done = run_cli("data", "check", "ccii3", "--data", str(tmp_path / "ccii"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"] == {"CP": 6, "NCP": 6, "Normal": 6}
