"""Reading a run directory into tables of cells and scenarios."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radbench.cellspec import SCENARIO_KEYS
from radbench.errors import DataError
from radbench.store import CellState, RunDir



def source_label(source: str) -> str:
    """Short display name: file:/long/path/w.h5 → file:w.h5."""
    return "file:" + Path(source[5:]).name if source.startswith("file:") else source


def check_not_damaged(out: Path) -> None:
    """A report never leaves a damaged cell out silently: a DataError names the first damaged
    file, what is wrong with it, and the fix."""
    damaged = RunDir(out).damaged()
    if not damaged:
        return
    cell, problem = damaged[0]
    more = f"; {len(damaged) - 1} more damaged cell(s), `radbench status {out}` lists them" \
        if len(damaged) > 1 else ""
    raise DataError(f"{cell.path}: damaged, {problem}; restore the file, or run the same "
                    f"`radbench run` command again (it rewrites cell.json and trains a cell "
                    f"whose result is unreadable again){more}")


def collect_cells(out: Path) -> pd.DataFrame:
    """One row per cell directory: scenario keys, fold, status, test AUC (NaN unless done)."""
    check_not_damaged(out)
    rows = []
    for directory in RunDir(out).cells():
        cell = directory.config().cell
        status = directory.stored_state()
        result = directory.result() if status == CellState.DONE else None
        rows.append({**cell.scenario(), "fold": cell.fold, "cell_id": directory.id,
                     "status": status.value,
                     "test_auc": result.test_auc if result else float("nan"),
                     "best_epoch": result.best_epoch if result else None,
                     "degenerate": bool(result and result.degenerate)})
    if not rows:
        raise DataError(f"{out}: no cells found (expected "
                        f"{RunDir(out).cell('<id>').config_file}); "
                        f"run `radbench run` first")
    return pd.DataFrame(rows)


def metric_column(metric: str) -> str:
    """The cell table's column of a metric of radbench.metrics.METRICS."""
    return f"test_{metric}"


def add_metrics(out: Path, cells: pd.DataFrame,
                predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The cell table with every metric of radbench.metrics (test_<name>, and the threshold
    chosen on validation), computed from each finished cell's stored predictions and validation
    predictions; NaN where a cell has none (its AUC then stays the one result.json holds)."""
    from radbench.metrics import METRICS, cell_metrics

    run, rows = RunDir(out), []
    for cell_id in cells["cell_id"]:
        test = predictions.get(cell_id)
        values = cell_metrics(test, run.cell(cell_id).val_predictions()) \
            if test is not None and len(test) else {}
        rows.append({metric_column(m): values.get(m, float("nan")) for m in METRICS
                     if m != "auc"} | {"threshold": values.get("threshold", float("nan"))}
                    | {metric_column(k): v for k, v in values.items() if k.startswith("auc_")})
    return pd.concat([cells.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def scenario_table(cells: pd.DataFrame, metric: str = "auc") -> pd.DataFrame:
    """One row per scenario: the mean of `metric` over its folds (column named after it),
    complete only if all folds are done and each has the metric."""
    column = metric_column(metric)
    grouped = cells.groupby(SCENARIO_KEYS, dropna=False)
    table = grouped.agg(**{
        metric: (column, "mean"),
        "fold_sd": (column, "std"),
        "folds_done": ("status", lambda s: int((s == CellState.DONE).sum())),
        "folds_measured": (column, "count"),
        "folds": ("status", "size"),
        "degenerate": ("degenerate", "any")}).reset_index()
    table["complete"] = (table["folds_done"] == table["folds"]) & \
        (table["folds_measured"] == table["folds"])
    return table


def data_notes(out: Path) -> list[dict]:
    """data.json of every dataset the run used."""
    return [info for info in (d.info() for d in RunDir(out).data_dirs()) if info]


def stored_predictions(out: Path, cells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """predictions.csv of every finished cell that has one, read once, by cell id."""
    run, found = RunDir(out), {}
    for cell_id in cells.loc[cells["status"] == CellState.DONE, "cell_id"]:
        cell = run.cell(cell_id)
        if cell.predictions_file.is_file():
            found[cell_id] = cell.predictions()
    return found


def localization_cells(out: Path, cells: pd.DataFrame) -> pd.DataFrame:
    """Per finished cell with localization.json: its mean Dice, IoU and pointing rate."""
    rows = []
    run = RunDir(out)
    for cell in cells[cells["status"] == CellState.DONE].itertuples():
        summary = run.cell(cell.cell_id).localization_summary()
        if summary is not None and summary.get("n"):
            rows.append({"cell_id": cell.cell_id, **summary})
    return pd.DataFrame(rows)


def binary_only(predictions: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The predictions of two-class cells (a y_score column): what DeLong, the ROC curves and
    the reliability diagram read."""
    return {cell: frame for cell, frame in predictions.items() if "y_score" in frame}


def per_class_auc(cells: pd.DataFrame) -> pd.DataFrame:
    """Per task and source of multi-class cells: each class's mean one-vs-rest AUC over the
    finished cells (columns 'AUC <class>'), and how many cells."""
    columns = [c for c in cells.columns if c.startswith("test_auc_")]
    done = cells[cells["status"] == CellState.DONE]
    if not columns or done.empty:
        return pd.DataFrame()
    rows = []
    for (task, source), group in done.groupby(["task", "source"]):
        present = [c for c in columns if group[c].notna().any()]
        if present:
            rows.append({"task": task, "source": source, "cells": len(group),
                         **{f"AUC {c[len('test_auc_'):]}": round(float(group[c].mean()), 3)
                            for c in present}})
    return pd.DataFrame(rows)
