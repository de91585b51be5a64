"""The report's external validation: per task, site and source, the cell chosen on internal
validation (highest validation AUC among the cells scored on the site), its internal test AUC
and its AUC on the site, each with its DeLong 95 % CI; and per site each source against the
baseline by DeLong's paired test on the site's cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radbench.report.shown import fmt, fmt_p
from radbench.report.stats import choose_baseline, delong_ci, delong_test
from radbench.sites import site_dirs, site_predictions
from radbench.store import CellState, RunDir


def _auc_with_ci(frame: pd.DataFrame) -> tuple[float, float, float]:
    """A two-class predictions frame's AUC with its DeLong CI; NaN when a class is missing."""
    y, score = frame["y_true"].to_numpy(), frame["y_score"].to_numpy()
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    return delong_ci(y, score)


def external_tables(out: Path, cells: pd.DataFrame, baseline: str | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per task, site and source: the chosen cell's internal and external AUC with CIs;
    per site: each source minus the baseline, DeLong's paired test). Two-class tasks."""
    run = RunDir(out)
    done = cells[cells["status"] == CellState.DONE]
    rows, chosen = [], {}
    for site in site_dirs(run):
        of_task = done[done["task"] == site.task]
        for source, group in of_task.groupby("source"):
            scored = []
            for cell_id in group["cell_id"]:
                frame = site_predictions(run.cell(cell_id), site.name)
                if frame is not None and "y_score" in frame:
                    val_auc = run.cell(cell_id).val_auc()
                    scored.append((-1.0 if np.isnan(val_auc) else val_auc, cell_id, frame))
            if not scored:
                continue
            val_auc, cell_id, frame = max(scored, key=lambda item: (item[0], item[1]))
            internal = run.cell(cell_id).predictions()
            i_auc, i_low, i_high = _auc_with_ci(internal)
            e_auc, e_low, e_high = _auc_with_ci(frame)
            chosen[(site.task, site.name, source)] = frame
            rows.append({"task": site.task, "site": site.name, "source": source,
                         "cell_id": cell_id, "cells_scored": len(scored), "val_auc": val_auc,
                         "internal_auc": i_auc, "internal_low": i_low, "internal_high": i_high,
                         "n_internal": len(internal), "external_auc": e_auc,
                         "external_low": e_low, "external_high": e_high,
                         "n_external": len(frame),
                         "external_pos": int((frame["y_true"] == 1).sum()),
                         "external_neg": int((frame["y_true"] == 0).sum())})
    table = pd.DataFrame(rows)
    pairs = []
    for (task, site), group in (table.groupby(["task", "site"]) if len(table) else []):
        sources = sorted(group["source"])
        base = choose_baseline(sources, baseline)
        for source in sources:
            if source == base:
                continue
            a, b = chosen[(task, site, source)], chosen[(task, site, base)]
            merged = a.merge(b, on="case_id", suffixes=("_a", "_b"))
            if len(np.unique(merged["y_true_a"])) < 2:
                continue
            difference, z, p = delong_test(merged["y_true_a"], merged["y_score_a"],
                                           merged["y_score_b"])
            half = 1.959964 * abs(difference / z) if z else 0.0
            pairs.append({"task": task, "site": site, "a": source, "b": base,
                          "n": len(merged), "auc_difference": difference,
                          "ci_low": difference - half, "ci_high": difference + half,
                          "delong_p": p})
    return table, pd.DataFrame(pairs)


def show_external(frame: pd.DataFrame) -> pd.DataFrame:
    def ci(auc, low, high) -> str:
        return f"{fmt(auc)} [{fmt(low)}, {fmt(high)}]"

    return pd.DataFrame({
        "task": frame["task"], "site": frame["site"], "source": frame["source"],
        "cell (best on validation)": frame["cell_id"],
        "internal test AUC [95 % CI]": [ci(*v) for v in zip(
            frame["internal_auc"], frame["internal_low"], frame["internal_high"])],
        "external AUC [95 % CI]": [ci(*v) for v in zip(
            frame["external_auc"], frame["external_low"], frame["external_high"])],
        "external cases (pos / neg)": [f"{n} ({p} / {q})" for n, p, q in zip(
            frame["n_external"], frame["external_pos"], frame["external_neg"])],
        "change": [f"{100 * (e - i):+.1f} points" for e, i in zip(
            frame["external_auc"], frame["internal_auc"])]})


def show_external_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "task": frame["task"], "site": frame["site"],
        "A − B": [f"{a} − {b}" for a, b in zip(frame["a"], frame["b"])], "n": frame["n"],
        "AUC difference": frame["auc_difference"].map(lambda v: f"{v:+.3f}"),
        "DeLong 95 % CI": [f"[{a:+.3f}, {b:+.3f}]" for a, b in zip(frame["ci_low"],
                                                                   frame["ci_high"])],
        "DeLong p": frame["delong_p"].map(fmt_p)})
