"""Probe and kNN cells on BUSI: features computed once and reused, the chosen C and k are
the validation optimum, and the stored test scores are reproduced by scikit-learn alone."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.conftest import run_cli


def test_probe_and_knn_cells(tmp_path, busi_root):
    grid = tmp_path / "probe.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "p", "sources": ["scratch"], "backbones": ["MobileNetV3Small"], "folds": 2,
        "settings": [{"freeze": "probe"}, {"freeze": "knn"}],
        "overrides": {"image_size": 32, "batch_size": 16}}))
    out, cache = tmp_path / "run", tmp_path / "cache"
    done = run_cli("run", "breast", "--grid", str(grid), "--data", str(busi_root), "--out",
                   str(out), "--max-images", "80", "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in sorted(out.glob("cells/*/result.json"))]
    assert sorted((r["freeze"], r["fold"]) for r in results) == [
        ("knn", 0), ("knn", 1), ("probe", 0), ("probe", 1)]
    assert sum(not r["timings"]["features_reused"] for r in results) == 1  # computed once
    (stored,) = cache.glob("*/features/*.npy")
    features = np.load(stored)
    (probe,) = [r for r in results if r["freeze"] == "probe" and r["fold"] == 0]
    cell = out / "cells" / probe["cell_id"]
    history = pd.read_csv(cell / "history.csv")
    assert probe["best_epoch"] == int(history["val_auc"].idxmax()) + 1
    split = pd.read_csv(cell / "split.csv", dtype={"case_id": str})
    train, test = split[split["part"] == "train"], split[split["part"] == "test"]
    chosen = history.loc[probe["best_epoch"] - 1, "C"]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=chosen, max_iter=2000,
                                                               random_state=0))
    model.fit(features[train["row"]], train["y"])
    predictions = pd.read_csv(cell / "predictions.csv", dtype={"case_id": str})
    np.testing.assert_allclose(predictions["y_score"],
                               model.predict_proba(features[test["row"]])[:, 1], atol=1e-5)
    assert probe["test_auc"] == pytest.approx(roc_auc_score(predictions["y_true"],
                                                            predictions["y_score"]))
    report = json.loads(run_cli("report", str(out), "--json").stdout)
    assert {r["freeze"] for r in report["by_freeze"]} == {"probe", "knn"}


def test_probe_takes_no_learning_rate(tmp_path):
    from radbench.config.schema import Setting
    from pydantic import ValidationError

    assert Setting(freeze="probe").rates == [0.0]
    with pytest.raises(ValidationError, match="takes no lr"):
        Setting(freeze="knn", lr=[1e-3])
    with pytest.raises(ValidationError, match="needs lr"):
        Setting(freeze="freezeall")


@pytest.mark.slow  # three cell processes; the full-size figures are in the README
def test_bench_probe_script_in_a_tiny_setting(busi_root):
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_probe.py"), "--data",
                           str(busi_root), "--backbone", "MobileNetV3Small", "--image-size",
                           "32", "--epochs", "2", "--max-images", "60", "--target", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "ratio fine-tune / cold probe:" in done.stdout and "reused: True" in done.stdout


def test_damaged_stored_features_are_computed_again(tmp_path):
    """A features file cut short (a kill, a full disk) is never loaded as features: the cell
    computes them again and replaces it."""
    from radbench.config.schema import Training
    from radbench.cellspec import Cell
    from radbench.train.probe import features_key, stored_features

    cell = Cell("t", "scratch", "MobileNetV3Small", "probe", 0.0, 0, 0,
                Training(image_size=32, batch_size=8))
    images = np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    first, reused = stored_features(cell, tmp_path, images, None, None)
    assert not reused and first.shape[0] == 6
    target = tmp_path / "features" / f"{features_key(cell, None)}.npy"
    target.write_bytes(target.read_bytes()[:200])
    again, reused = stored_features(cell, tmp_path, images, None, None)
    assert not reused and np.allclose(again, first, atol=1e-5)
    assert np.load(target).shape == first.shape
    assert stored_features(cell, tmp_path, images, None, None)[1]  # whole again: reused
