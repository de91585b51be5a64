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


def _read_back(uri: str, name: str) -> list:
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    return client.search_runs([client.get_experiment_by_name(name).experiment_id])


def test_export_to_mlflow_3s_database_store_by_default_and_by_uri(run_with_predictions):
    """Issue 27: the default is a SQLite database MLflow 3 opens with no setting (what
    `--tracking-uri sqlite:///...` gives: it ended with a 40-line traceback). Runs are named by
    scenario."""
    from radbench.export_mlflow import tracking_uri

    out = run_with_predictions
    assert tracking_uri(None, out) == f"sqlite:///{out.resolve() / 'mlflow.db'}"
    assert tracking_uri("x/runs.db", out).startswith("sqlite:////") and \
        tracking_uri("x/runs.db", out).endswith("/x/runs.db")
    default = run_cli("export", "mlflow", str(out), "--experiment", "busi")
    assert default.returncode == 0, default.stderr[-3000:]
    assert f"at sqlite:///{(out / 'mlflow.db').resolve()}" in default.stderr
    noise = [line for line in default.stderr.splitlines()
             if not line.startswith("logged ") and "cell(s) logged now" not in line]
    assert noise == []  # no MLflow INFO lines, no library warnings
    runs = _read_back(f"sqlite:///{out / 'mlflow.db'}", "busi")
    assert len(runs) == 12
    names = {r.info.run_name for r in runs}
    assert "file:/w/pre.h5 ResNet50 freezeall 0.001 0" in names
    logged = runs[0].info.artifact_uri
    assert logged.startswith((out / "mlartifacts").resolve().as_uri()), logged  # not ./mlruns


@pytest.mark.slow  # starts an MLflow tracking server (about 10 s)
def test_export_to_a_tracking_server_started_here(run_with_predictions, tmp_path):
    pytest.importorskip("mlflow.server", reason="`mlflow server` needs the full mlflow "
                        "package and flask (`make test` installs them)")
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"sqlite:///{tmp_path / 'server.db'}", "--default-artifact-root",
         str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.5)
        done = run_cli("export", "mlflow", str(run_with_predictions), "--tracking-uri", uri,
                       "--experiment", "served")
        assert done.returncode == 0, done.stderr[-3000:]
        runs = _read_back(uri, "served")
        assert len(runs) == 12 and all(r.data.metrics.get("test_auc") is not None for r in runs)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_server_that_does_not_answer_is_one_line_within_the_timeout(run_with_predictions,
                                                                      monkeypatch):
    """Issue 27: a server that does not answer made the export print nothing and retry for
    minutes. A socket that accepts connections and never answers stands in for it."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    try:
        began = time.monotonic()
        done = run_cli("export", "mlflow", str(run_with_predictions), "--tracking-uri", uri)
        took = time.monotonic() - began
    finally:
        silent.close()
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: --tracking-uri {uri}: no MLflow server answered within 2 s")
    assert took < 30  # the 2 s timeout and the process start, not minutes of retries
    refused = run_cli("export", "mlflow", str(run_with_predictions), "--tracking-uri",
                      "http://127.0.0.1:9")  # the discard port: nothing listens
    assert refused.returncode == 2 and "Connection refused" in refused.stderr
