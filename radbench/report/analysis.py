"""The report's statistics, from the stored scenario table and per-case predictions:
summaries per task x source, paired comparisons between sources, per-cell AUC intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radbench.errors import ConfigError
from radbench.report.collect import SCENARIO_KEYS
from radbench.report.stats import bootstrap_auc_ci, compare_sources, delong_ci, describe
from radbench.store import DONE, cell_dir

PAIR_KEYS = [k for k in SCENARIO_KEYS if k not in ("task", "source")]


def summaries(scenarios: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per task x source: n, mean, SD, median, IQR of complete scenarios, and beside them the
    spread of repeated folds (mean SD across folds within a scenario) and of seeds."""
    rows = []
    complete = scenarios[scenarios["complete"]]
    for (task, source), group in complete.groupby(["task", "source"]):
        row = {"task": task, "source": source, **describe(group["auc"])}
        row["fold_sd"] = float(group["fold_sd"].mean()) if group["fold_sd"].notna().any() else None
        by_seed = group.groupby([k for k in PAIR_KEYS if k != "seed"])["auc"]
        seed_sd = by_seed.std(ddof=1).dropna()
        row["seeds"] = int(group["seed"].nunique())
        row["seed_sd"] = float(seed_sd.mean()) if len(seed_sd) else None
        rows.append(row)
    return pd.DataFrame(rows)


def parse_compare(value: str | None, sources: list[str]) -> list[tuple[str, str]] | None:
    """`--compare A,B` (source labels as the report prints them)."""
    if not value:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"--compare {value!r}: expected two different sources, A,B")
    unknown = [n for n in names if n not in sources]
    if unknown:
        raise ConfigError(f"--compare: no source {unknown[0]!r} in this run; sources: "
                          f"{', '.join(sources)}")
    return [(names[0], names[1])]


def cell_intervals(out: Path, cells: pd.DataFrame, n_resamples: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """Per finished cell: test AUC with its stratified-bootstrap and DeLong 95 % CIs."""
    rows = []
    for cell in cells[cells["status"] == DONE].itertuples():
        predictions = cell_dir(out, cell.cell_id).path / "predictions.csv"
        if not predictions.is_file():
            continue
        frame = pd.read_csv(predictions)
        y, score = frame["y_true"].to_numpy(), frame["y_score"].to_numpy()
        if len(np.unique(y)) < 2:
            continue
        auc, d_low, d_high = delong_ci(y, score)
        b_low, b_high = bootstrap_auc_ci(y, score, n_resamples, seed=seed)
        rows.append({"cell_id": cell.cell_id, "task": cell.task, "source": cell.source,
                     "backbone": cell.backbone, "freeze": cell.freeze, "lr": cell.lr,
                     "fold": cell.fold, "seed": cell.seed, "n_test": len(y), "auc": auc,
                     "bootstrap_low": b_low, "bootstrap_high": b_high,
                     "delong_low": d_low, "delong_high": d_high})
    return pd.DataFrame(rows)


def analyse(report: dict, out: Path, cells: pd.DataFrame, compare: str | None = None,
            seed: int = 0) -> None:
    """Add summary, comparisons, friedman and cell_intervals to a report (in place)."""
    scenarios = report["scenario_table"]
    pairs = parse_compare(compare, sorted(scenarios["source"].unique()))
    report["summary"] = summaries(scenarios, cells)
    comparisons, friedman = compare_sources(scenarios, PAIR_KEYS, pairs, seed)
    report["comparisons"] = pd.DataFrame([c.to_dict() for c in comparisons])
    report["friedman"] = friedman
    labelled = cells.assign(source=report["cell_sources"])
    report["cell_intervals"] = cell_intervals(out, labelled, seed=seed)
