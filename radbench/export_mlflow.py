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


SERVER_TIMEOUT_S = 10.0  # a tracking server that does not answer within this is reported


def tracking_uri(value: str | None, out: Path) -> str:
    """--tracking-uri as MLflow takes it. Default: $MLFLOW_TRACKING_URI, else a SQLite database
    RUN/mlflow.db (MLflow 3's own default store kind: `mlflow ui --backend-store-uri
    sqlite:///RUN/mlflow.db` opens it, no setting needed). A URI (http://, sqlite:, file:,
    databricks...) is taken as given; a path ending in .db or .sqlite is a SQLite database; any
    other path a local file store (MLflow 3 reads one only with MLFLOW_ALLOW_FILE_STORE=true,
    which radbench sets for its own writing)."""
    value = value or os.environ.get("MLFLOW_TRACKING_URI") or str(Path(out) / "mlflow.db")
    if "://" in value or value.startswith(("file:", "databricks", "sqlite:")):
        uri = value
    else:
        path = Path(value).expanduser().resolve()
        uri = f"sqlite:///{path}" if path.suffix in (".db", ".sqlite") else path.as_uri()
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def artifact_location(uri: str) -> str | None:
    """Where a new experiment's artifacts go: beside a SQLite database (`mlartifacts/` in its
    folder; MLflow would use ./mlruns of whatever folder the export runs in), else the store's
    own default (a file store's folder, a server's artifact root)."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri[len("sqlite:///"):])
    return (database.parent / "mlartifacts").resolve().as_uri()


def check_store(uri: str) -> None:
    """Before anything is logged: a SQLite store has its database driver, a tracking server
    answers within the timeout ($MLFLOW_HTTP_REQUEST_TIMEOUT, default 10 s; MLflow's client
    then retries once, not for minutes). ConfigError in one line otherwise."""
    local = Path(uri[len("sqlite:///"):]).parent if uri.startswith("sqlite:///") else \
        Path(uri[len("file://"):]) if uri.startswith("file://") else None
    if local is not None:  # a read-only run folder: one line, before MLflow's own error
        from radbench.writable import check_writable

        try:
            check_writable(local, "--tracking-uri")
        except ConfigError as exc:
            raise ConfigError(f"{exc}; give a --tracking-uri that can be written") from None
    if uri.startswith("sqlite:"):
        try:
            import alembic  # noqa: F401
            import sqlalchemy  # noqa: F401
        except ImportError:
            raise ConfigError(f"--tracking-uri {uri}: a SQLite store needs sqlalchemy and "
                              f"alembic; pip install 'radbench[mlflow]'") from None
        return
    if not uri.startswith(("http://", "https://")):
        return
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or SERVER_TIMEOUT_S)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", f"{timeout:g}")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # it answered (a server without /health, or one asking to log in)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"--tracking-uri {uri}: no MLflow server answered within {timeout:g} s "
                          f"({reason}); start one (`mlflow server`) or check the address") \
            from None


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
    """MLflow's client, its own log lines (creating tables, migrations) and library deprecation
    warnings kept off the terminal: the export says what it did in its own lines."""
    import logging
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("export mlflow: the MLflow client is not installed; pip install "
                          "'radbench[mlflow]' (mlflow-skinny) or mlflow") from None
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # set again: importing resets it
    return MlflowClient(tracking_uri=uri)


def export_mlflow(out: Path, uri: str | None = None, experiment: str | None = None,
                  log: Callable[[str], None] = lambda line: None) -> ExportSummary:
    """Log every finished cell of run directory `out` not logged yet (see the module text)."""
    run = RunDir(out)
    if not run.cells_root.is_dir():
        raise ConfigError(f"{out}: not a run directory (no cells/); expected a directory "
                          f"written by `radbench run`")
    uri = tracking_uri(uri, out)
    check_store(uri)
    name = experiment or f"radbench-{Path(out).resolve().name}"
    client = _client(uri)
    try:
        found = client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else client.create_experiment(
            name, artifact_location=artifact_location(uri))
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
