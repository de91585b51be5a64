"""`radbench export mlflow`: one MLflow run per finished cell in a local store, read back with
the MLflow client; a second export adds nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.report.test_html import run_with_predictions  # noqa: F401 - the fixture
from tests.report.test_build import store

mlflow = pytest.importorskip("mlflow", reason="the MLflow client (radbench[mlflow]) is not "
                             "installed; .ci/run installs the dev extra")


def test_export_logs_each_finished_cell_once(run_with_predictions, tmp_path, monkeypatch):
    out = run_with_predictions
    store(out, "scratch", "ResNet50", 1e-4, 0, None, done=False)  # pending: not exported
    uri = tmp_path / "mlruns"
    first = run_cli("export", "mlflow", str(out), "--tracking-uri", str(uri),
                    "--experiment", "busi")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "12 cell(s) logged now, 0 already logged, 1 not finished" in first.stderr

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(tracking_uri=uri.as_uri())
    experiment = client.get_experiment_by_name("busi")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 12
    by_cell = {r.data.tags["radbench.cell_id"]: r for r in runs}
    cell = out / "cells" / "file__w_pre.h5-ResNet50-0.001-0"
    logged = by_cell[cell.name]
    result = json.loads((cell / "result.json").read_text())
    assert logged.data.metrics["test_auc"] == pytest.approx(result["test_auc"])
    assert logged.data.params["backbone"] == "ResNet50"
    assert logged.data.params["source"] == "file:/w/pre.h5"
    assert logged.data.params["training.image_size"] == "64"
    history = client.get_metric_history(logged.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3]
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"predictions.csv", "val_predictions.csv", "history.csv", "cell.json",
            "result.json"} <= artifacts

    again = run_cli("export", "mlflow", str(out), "--tracking-uri", str(uri),
                    "--experiment", "busi")
    assert again.returncode == 0 and "0 cell(s) logged now, 12 already logged" in again.stderr
    assert len(client.search_runs([experiment.experiment_id])) == 12


def test_export_of_a_non_run_is_one_line(tmp_path):
    done = run_cli("export", "mlflow", str(tmp_path), "--tracking-uri", str(tmp_path / "m"))
    assert done.returncode == 2 and "not a run directory" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
