"""Reading a run directory into tables of cells and scenarios."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radbench.errors import DataError
from radbench.grid import Cell
from radbench.store import DONE, iter_cells, read_json

SCENARIO_KEYS = ["task", "source", "backbone", "freeze", "lr", "seed", "image_size", "batch_size",
                 "epochs", "normalization", "interpolation", "augment", "precision"]


def source_label(source: str) -> str:
    """Short display name: file:/long/path/w.h5 → file:w.h5."""
    return "file:" + Path(source[5:]).name if source.startswith("file:") else source


def collect_cells(out: Path) -> pd.DataFrame:
    """One row per cell directory: scenario keys, fold, status, test AUC (NaN unless done)."""
    rows = []
    for directory in iter_cells(out):
        config = directory.config()
        cell = Cell.from_dict(config["cell"])
        status = directory.status()
        result = directory.result() if status == DONE else None
        rows.append({**cell.scenario(), "fold": cell.fold, "cell_id": directory.id,
                     "status": status,
                     "test_auc": result["test_auc"] if result else float("nan"),
                     "best_epoch": result["best_epoch"] if result else None,
                     "constant": bool(result and result.get("distinct_test_scores") == 1)})
    if not rows:
        raise DataError(f"{out}: no cells found (expected {out}/cells/<id>/cell.json); "
                        f"run `radbench run` first")
    return pd.DataFrame(rows)


def scenario_table(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: the mean test AUC over its folds, complete only if all folds are done."""
    grouped = cells.groupby(SCENARIO_KEYS, dropna=False)
    table = grouped.agg(
        auc=("test_auc", "mean"),
        fold_sd=("test_auc", "std"),
        folds_done=("status", lambda s: int((s == DONE).sum())),
        folds=("status", "size"),
    ).reset_index()
    table["complete"] = table["folds_done"] == table["folds"]
    return table


def data_notes(out: Path) -> list[dict]:
    """data.json of every dataset the run used."""
    return [d for d in (read_json(p) for p in sorted((Path(out) / "data").glob("*/data.json"))) if d]
