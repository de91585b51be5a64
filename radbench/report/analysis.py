"""The report's statistics, from the stored scenario table and per-case predictions:
summaries per task x source, paired comparisons between sources, per-cell AUC intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radbench.errors import ConfigError
from radbench.cellspec import SCENARIO_KEYS
from radbench.report.collect import localization_cells
from radbench.config.schema import SCENARIO_SETTINGS
from radbench.report.stats import bootstrap_auc_ci, compare_pair, compare_sources, delong_ci, \
    delong_test, describe, paired_frame
from radbench.store import CellState

DONE = CellState.DONE

PAIR_KEYS = [k for k in SCENARIO_KEYS if k not in ("task", "source")]


def summaries(scenarios: pd.DataFrame, cells: pd.DataFrame, value: str = "auc") -> pd.DataFrame:
    """Per task x source: n, mean, SD, median, IQR of complete scenarios, and beside them the
    spread of repeated folds (mean SD across folds within a scenario) and of seeds."""
    rows = []
    complete = scenarios[scenarios["complete"]]
    for (task, source), group in complete.groupby(["task", "source"]):
        row = {"task": task, "source": source, **describe(group[value])}
        row["fold_sd"] = float(group["fold_sd"].mean()) if group["fold_sd"].notna().any() else None
        by_seed = group.groupby([k for k in PAIR_KEYS if k != "seed"])[value]
        seed_sd = by_seed.std(ddof=1).dropna()
        row["seeds"] = int(group["seed"].nunique())
        row["seed_sd"] = float(seed_sd.mean()) if len(seed_sd) else None
        rows.append(row)
    return pd.DataFrame(rows)


def degenerate_pairs(scenarios: pd.DataFrame, comparisons: pd.DataFrame) -> list[int]:
    """Per comparison: how many of its matched scenario pairs hold a degenerate cell (a fold
    whose every test case got the same score) on either side."""
    complete = scenarios[scenarios["complete"]]
    counts = []
    for row in comparisons.itertuples():
        rows = complete[complete["task"] == row.task]
        left = rows[rows["source"] == row.a].set_index(PAIR_KEYS)["degenerate"]
        right = rows[rows["source"] == row.b].set_index(PAIR_KEYS)["degenerate"]
        both = pd.concat({"a": left, "b": right}, axis=1, join="inner")
        counts.append(int((both["a"] | both["b"]).sum()))
    return counts


def gain_by_setting(scenarios: pd.DataFrame, comparisons: pd.DataFrame,
                    seed: int = 0, value: str = "auc") -> pd.DataFrame:
    """Whether a source's gain over another changes with a training setting that takes two
    values in this run (bn-check's BatchNorm, or normalization, image size...): per comparison
    and setting, each scenario's gain under either value, paired on every other key; the
    change of the gain tested with the paired Wilcoxon test (radbench.report.stats)."""
    complete = scenarios[scenarios["complete"]]
    rows = []
    for setting in SCENARIO_SETTINGS:
        values = complete[setting].drop_duplicates().tolist()
        if len(values) != 2:
            continue
        first, second = sorted(values, key=str)
        keys = [k for k in PAIR_KEYS if k != setting]
        for comparison in comparisons.itertuples():
            rows_of = complete[complete["task"] == comparison.task]
            gains = {}
            for level in (first, second):
                at = rows_of[rows_of[setting] == level]
                both, _, _ = paired_frame(at, comparison.a, comparison.b, keys, value)
                gains[level] = both["a"] - both["b"]
            matched = pd.concat({"a": gains[second], "b": gains[first]}, axis=1,
                                join="inner").dropna()
            if matched.empty:
                continue
            change = compare_pair(comparison.task, comparison.a, comparison.b, matched, 0, 0,
                                  seed)
            rows.append({"task": comparison.task, "a": comparison.a, "b": comparison.b,
                         "setting": setting, "first": str(first), "second": str(second),
                         "gain_first_points": 100 * float(matched["b"].mean()),
                         "gain_second_points": 100 * float(matched["a"].mean()),
                         "change_points": change.mean_gain_points,
                         "n_pairs": change.n_pairs, "wilcoxon_p": change.wilcoxon_p,
                         "note": change.note})
    return pd.DataFrame(rows)


def parse_baseline(value: str | None, sources: list[str]) -> str | None:
    """`--baseline SOURCE` (a source label as the report prints it), or None: the default."""
    if value is not None and value not in sources:
        raise ConfigError(f"--baseline {value!r}: no such source in this run; sources: "
                          f"{', '.join(sources)}")
    return value


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


def cell_intervals(cells: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                   n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per finished cell: test AUC with its stratified-bootstrap and DeLong 95 % CIs."""
    rows = []
    for cell in cells[cells["status"] == DONE].itertuples():
        frame = predictions.get(cell.cell_id)
        if frame is None:
            continue
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


def paired_cells(cells: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                 pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """DeLong's paired test for every two finished cells of sources a and b that share scenario
    keys and fold, and so the same test cases (checked by case id)."""
    keys = PAIR_KEYS + ["fold"]
    done = cells[cells["status"] == DONE]
    rows = []
    for a, b in pairs:
        left = done[done["source"] == a].set_index(keys)["cell_id"]
        right = done[done["source"] == b].set_index(keys)["cell_id"]
        for key in left.index.intersection(right.index):
            frames = [predictions.get(c) for c in (left[key], right[key])]
            if any(f is None or f.empty for f in frames):
                continue
            merged = frames[0].merge(frames[1], on="case_id", suffixes=("_a", "_b"))
            if len(merged) != len(frames[0]) or len(merged) != len(frames[1]):
                continue  # not the same test cases: no paired test
            difference, z, p = delong_test(merged["y_true_a"], merged["y_score_a"],
                                           merged["y_score_b"])
            half = 1.959964 * abs(difference / z) if z else 0.0  # z = difference / SE
            rows.append({**dict(zip(keys, key)), "task": done.loc[done["cell_id"] == left[key],
                                                                  "task"].iloc[0],
                         "a": a, "b": b, "n_test": len(merged), "auc_difference": difference,
                         "delong_z": z, "delong_p": p, "ci_low": difference - half,
                         "ci_high": difference + half})
    return pd.DataFrame(rows)


def localization_summary(out: Path, cells: pd.DataFrame, pairs: list[tuple[str, str]] | None,
                         seed: int, baseline: str | None = None
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per task x source: scenario mean Dice/IoU/pointing (each scenario averaged over its
    folds), and paired comparisons of scenario Dice, the same way as the AUC."""
    per_cell = localization_cells(out, cells)
    if per_cell.empty:
        return pd.DataFrame(), pd.DataFrame()
    merged = cells.merge(per_cell, on="cell_id")
    per_scenario = merged.groupby(SCENARIO_KEYS, dropna=False)[["dice", "iou", "pointing"]] \
        .mean().reset_index()
    rows = []
    for (task, source), group in per_scenario.groupby(["task", "source"]):
        rows.append({"task": task, "source": source, "n": len(group),
                     **{f"{m}_{k}": v for m in ("dice", "iou", "pointing")
                        for k, v in describe(group[m]).items() if k in ("mean", "sd")}})
    per_scenario["complete"] = True
    comparisons, _ = compare_sources(per_scenario, PAIR_KEYS, pairs, seed, value="dice",
                                     baseline=baseline)
    return pd.DataFrame(rows), pd.DataFrame([c.to_dict() for c in comparisons])
