"""`radbench export mlflow RUN`: every finished cell of a run directory as one MLflow run.

Params: the cell's resolved config (cell.json, flattened: backbone, source, lr, training.*,
task.*, data ids). Metrics: the history per epoch (step = epoch) and the test metrics of
result.json. Artifacts: the cell's files (predictions, validation predictions, history, split,
config, result, log, kept model, TensorBoard events). Tags: the cell id and a hash of its
result.json, which make the export idempotent: a cell already logged with the same result is
skipped, a cell whose result changed (run again) is logged anew, and a run an interrupted
export left without the result tag (set last) is deleted and logged again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from radbench.errors import ConfigError
from radbench.store import CellDir, RunDir
from radbench.atomic import read_json

CELL_TAG = "radbench.cell_id"
RESULT_TAG = "radbench.result_sha256"
PARAM_LIMIT = 6000  # MLflow's longest param value
SKIPPED_FILES = {".lock", "heartbeat.json"}


@dataclass
class ExportSummary:
    experiment: str
    tracking_uri: str
    logged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already logged with this result
    not_finished: int = 0


def tracking_uri(value: str | None, out: Path) -> str:
    """--tracking-uri as MLflow takes it: a URI (http://, file:, databricks...) as given, a
    plain path as a local file store; default $MLFLOW_TRACKING_URI, else RUN/mlruns. A local file
    store is allowed explicitly (MLflow 3 asks for MLFLOW_ALLOW_FILE_STORE)."""
    value = value or os.environ.get("MLFLOW_TRACKING_URI") or str(Path(out) / "mlruns")
    if "://" in value or value.startswith(("file:", "databricks")):
        uri = value
    else:
        uri = Path(value).expanduser().resolve().as_uri()
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts as dotted keys; lists and scalars as their JSON text (cut to MLflow's
    limit)."""
    if isinstance(data, dict):
        flat: dict[str, str] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    text = data if isinstance(data, str) else json.dumps(data, sort_keys=True, default=str)
    return {prefix.rstrip("."): text[:PARAM_LIMIT]}


def cell_params(cell: CellDir) -> dict[str, str]:
    """The cell's resolved config as params: cell.* without the prefix, task.*, data.*, grid."""
    config = cell.config()
    if config is None:
        return {}
    record = config.to_json()
    params = flatten(record["cell"])
    params.update(flatten({"task": record["task"], "data": record["data"],
                           "grid": record["grid"]}))
    return params


def _metrics(cell: CellDir, stamp: int) -> list:
    from mlflow.entities import Metric

    metrics = []
    if cell.history_file.is_file():
        history = pd.read_csv(cell.history_file)
        for row in history.itertuples(index=False):
            step = int(getattr(row, "epoch"))
            for name, value in row._asdict().items():
                if name != "epoch" and pd.notna(value):
                    metrics.append(Metric(name, float(value), stamp, step))
    result = cell.result()
    tests = {"test_auc": result.test_auc, "best_epoch": result.best_epoch,
             "best_val_loss": result.best_val_loss, "best_val_auc": result.best_val_auc,
             **{f"test_{k}": v for k, v in (result.metrics or {}).items() if k != "auc"}}
    metrics += [Metric(name, float(value), stamp, 0) for name, value in tests.items()
                if value is not None and not pd.isna(value)]
    return metrics


def _result_hash(cell: CellDir) -> str:
    return hashlib.sha256(cell.result_file.read_bytes()).hexdigest()


def _finished_ms(cell: CellDir) -> int:
    result = read_json(cell.result_file) or {}
    try:
        return int(time.mktime(time.strptime(result["finished"], "%Y-%m-%dT%H:%M:%S%z")) * 1000)
    except (KeyError, TypeError, ValueError):
        return int(cell.result_file.stat().st_mtime * 1000)


def _client(uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("export mlflow: the MLflow client is not installed; pip install "
                          "'radbench[mlflow]' (mlflow-skinny) or mlflow") from None
    return MlflowClient(tracking_uri=uri)


def export_mlflow(out: Path, uri: str | None = None, experiment: str | None = None,
                  log: Callable[[str], None] = lambda line: None) -> ExportSummary:
    """Log every finished cell of run directory `out` not logged yet (see the module text)."""
    run = RunDir(out)
    if not run.cells_root.is_dir():
        raise ConfigError(f"{out}: not a run directory (no cells/); expected a directory "
                          f"written by `radbench run`")
    uri = tracking_uri(uri, out)
    name = experiment or f"radbench-{Path(out).resolve().name}"
    client = _client(uri)
    try:
        found = client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else client.create_experiment(name)
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own and the HTTP client's
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"--tracking-uri {uri}: cannot open experiment {name!r}: {first}") \
            from None
    logged = set()
    for existing in client.search_runs([experiment_id], max_results=50000):
        tags = existing.data.tags
        if CELL_TAG in tags and RESULT_TAG not in tags:  # an export cut short: log it again
            client.delete_run(existing.info.run_id)
        else:
            logged.add((tags.get(CELL_TAG), tags.get(RESULT_TAG)))
    summary = ExportSummary(name, uri)
    for cell in run.cells():
        if cell.result() is None:
            summary.not_finished += 1
            continue
        digest = _result_hash(cell)
        if (cell.id, digest) in logged:
            summary.skipped.append(cell.id)
            continue
        stamp = _finished_ms(cell)
        spec = cell.config().cell
        label = " ".join(str(getattr(spec, k)) for k in ("source", "backbone", "freeze", "lr",
                                                          "fold"))
        created = client.create_run(experiment_id, start_time=stamp, run_name=label,
                                    tags={CELL_TAG: cell.id,
                                          "radbench.run_dir": str(Path(out).resolve())})
        run_id = created.info.run_id
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in cell_params(cell).items()]
        metrics = _metrics(cell, stamp)
        for start in range(0, max(len(params), len(metrics)), 100):  # MLflow's batch limits
            client.log_batch(run_id, metrics=metrics[start:start + 100],
                             params=params[start:start + 100])
        for path in sorted(cell.path.iterdir()):
            if path.name in SKIPPED_FILES or path.name.startswith("."):
                continue
            if path.is_dir():
                client.log_artifacts(run_id, str(path), artifact_path=path.name)
            else:
                client.log_artifact(run_id, str(path))
        client.set_tag(run_id, RESULT_TAG, digest)  # last: the run is whole
        client.set_terminated(run_id, end_time=stamp)
        summary.logged.append(cell.id)
        log(f"logged {cell.id} ({label})")
    return summary
