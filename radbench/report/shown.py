"""How the report's tables are shown: each section's numbers as rows of text (for md, html,
tex and the terminal), the metric's label in the column names."""

from __future__ import annotations

import pandas as pd

from radbench.metrics import METRICS

# why a section is empty, when it is
EMPTY = {
    "external": "no external site: `radbench run ... --test-data PATH` (or data.external in "
                "the task) scores the kept models on another hospital's images",
    "external_comparisons": "no external site scored by two sources",
    "warnings": "nothing flagged: no underpowered test part, no result below chance, and "
                "every gain's CI excludes zero",
    "table": "no scenario is complete yet (every fold of a scenario must be done)",
    "paper_table": "no scenario is complete yet",
    "metrics": "no scenario is complete yet",
    "by_freeze": "no scenario is complete yet",
    "by_lr": "no scenario is complete yet",
    "summary": "no scenario is complete yet",
    "comparisons": "no task has two sources with complete scenarios to pair",
    "gain_by_setting": "no training setting takes exactly two values in this run",
    "friedman": "no task has three or more sources",
    "localization": "no cell has Grad-CAM results: the task has no lesion masks, or "
                    "`radbench cam DIR` has not been run",
    "localization_comparisons": "fewer than two sources have Grad-CAM results",
    "cell_intervals": "no finished cell has stored test predictions with both classes",
    "paired_cells": "no two cells of compared sources share scenario, fold and test cases",
    "scenario_table": "no cells",
    "per_class_auc": "no multi-class task in this run",
    "label_efficiency": "the run's complete scenarios hold one training fraction only (the "
                        "grid axis train_fraction makes a curve; grid label-efficiency)",
    "data_equivalence": "no label-efficiency curve in this run",
}


def empty_reason(key: str) -> str:
    """Why section `key` has no rows, when it has none."""
    return EMPTY.get(key, "no rows")


def fmt(value) -> str:
    """A number as the report prints it (3 decimals; – for none)."""
    return "–" if value is None or pd.isna(value) else f"{value:.3f}"


def fmt_p(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def mean_sd(mean, sd) -> str:
    return f"{fmt(mean)} ± {fmt(sd)}"


def show_summary_rows(frame: pd.DataFrame, by: str | None = None,
                      label: str = "AUC") -> pd.DataFrame:
    columns = {"task": frame["task"], "source": frame["source"]}
    if by:
        columns[by] = frame[by]
    columns["n"] = frame["n"]
    columns[f"{label} mean ± SD"] = [mean_sd(m, s) for m, s in zip(frame["mean"], frame["sd"])]
    if "min" in frame and by == "backbone":
        columns["min"] = frame["min"].map(fmt)
        columns["max"] = frame["max"].map(fmt)
        columns["degenerate cells"] = [
            f"{d} of {n} DEGENERATE" if d else f"0 of {n}"
            for d, n in zip(frame["degenerate_cells"], frame["cells_done"])]
    return pd.DataFrame(columns)


def show_per_source(frame: pd.DataFrame) -> pd.DataFrame:
    def seeds(row) -> str:
        sd = row.seed_sd
        return f"{row.seeds}" + (f" ({fmt(sd)})" if sd is not None and not pd.isna(sd) else "")

    return pd.DataFrame({
        "task": frame["task"], "source": frame["source"], "n": frame["n"],
        "mean ± SD": [mean_sd(m, s) for m, s in zip(frame["mean"], frame["sd"])],
        "median [IQR]": [f"{fmt(m)} [{fmt(a)}, {fmt(b)}]"
                         for m, a, b in zip(frame["median"], frame["q1"], frame["q3"])],
        "fold SD": frame["fold_sd"].map(fmt),
        "seeds (SD)": [seeds(r) for r in frame.itertuples()]})


def show_comparisons(frame: pd.DataFrame, what: str = "median difference",
                      gain: str = "mean gain (AUC points)") -> pd.DataFrame:
    rows = []
    for c in frame.itertuples():
        mean = "–" if c.mean_gain_points is None or pd.isna(c.mean_gain_points) else \
            f"{c.mean_gain_points:+.1f}"
        if getattr(c, "mean_ci_low", None) is not None and not pd.isna(c.mean_ci_low):
            mean += f" [{100 * c.mean_ci_low:+.1f}, {100 * c.mean_ci_high:+.1f}]"
        median = "–" if c.median_difference is None or pd.isna(c.median_difference) else (
            f"{c.median_difference:+.3f} [{c.ci_low:+.3f}, {c.ci_high:+.3f}]")
        r = "–" if c.rank_biserial is None or pd.isna(c.rank_biserial) else \
            f"{c.rank_biserial:+.2f}"
        note = c.note
        if getattr(c, "degenerate_pairs", 0):
            note = (note + "; " if note else "") + \
                f"{c.degenerate_pairs} pair(s) hold a DEGENERATE cell"
        rows.append([c.task, f"{c.a} − {c.b}", str(c.n_pairs), mean, median,
                     fmt_p(c.wilcoxon_p), fmt_p(c.holm_p), fmt_p(c.t_p), r, note])
    return pd.DataFrame(rows, columns=["task", "A − B", "pairs", f"{gain} [95 % CI]",
                                       f"{what} [95 % bootstrap CI]", "Wilcoxon p (primary)",
                                       "Holm p", "paired t p", "rank-biserial r", "note"])


def show_localization(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "task": frame["task"], "source": frame["source"], "n": frame["n"],
        **{name: [mean_sd(m, s) for m, s in zip(frame[f"{key}_mean"], frame[f"{key}_sd"])]
           for name, key in (("Dice", "dice"), ("IoU", "iou"), ("pointing game", "pointing"))}})


def show_cells(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "cell": frame["cell_id"], "task": frame["task"], "source": frame["source"],
        "backbone": frame["backbone"], "freeze": frame["freeze"],
        "lr": frame["lr"].map(lambda v: f"{v:g}"), "fold": frame["fold"], "seed": frame["seed"],
        "n test": frame["n_test"],
        **({"positives / negatives": [f"{p} / {n}" for p, n in zip(frame["n_pos"],
                                                                   frame["n_neg"])]}
           if "n_pos" in frame else {}),
        "AUC": frame["auc"].map(fmt),
        "bootstrap 95 % CI": [f"[{fmt(a)}, {fmt(b)}]" for a, b in
                              zip(frame["bootstrap_low"], frame["bootstrap_high"])],
        "DeLong 95 % CI": [f"[{fmt(a)}, {fmt(b)}]" for a, b in
                           zip(frame["delong_low"], frame["delong_high"])],
        **{METRICS[m].label: frame[m].map(fmt) for m in METRICS if m != "auc" and m in frame},
        **({"threshold (val)": frame["threshold"].map(fmt)} if "threshold" in frame else {}),
        **({"flag": [", ".join(f for f, on in (("underpowered", u), ("below chance", b)) if on)
                     for u, b in zip(frame["underpowered"], frame["below_chance"])]}
           if "underpowered" in frame else {})})


def show_cell_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "task": frame["task"], "A − B": [f"{a} − {b}" for a, b in zip(frame["a"], frame["b"])],
        "backbone": frame["backbone"], "freeze": frame["freeze"],
        "lr": frame["lr"].map(lambda v: f"{v:g}"), "seed": frame["seed"], "fold": frame["fold"],
        "n test": frame["n_test"], "AUC difference": frame["auc_difference"].map(
            lambda v: f"{v:+.3f}"),
        "DeLong 95 % CI": [f"[{a:+.3f}, {b:+.3f}]" for a, b in zip(frame["ci_low"],
                                                                   frame["ci_high"])],
        "DeLong p": frame["delong_p"].map(fmt_p)})


def show_friedman(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"task": frame["task"],
                         "sources": frame["sources"].map(", ".join),
                         "matched scenarios": frame["n_blocks"], "p": frame["p"].map(fmt_p)})


def show_gain_by_setting(frame: pd.DataFrame) -> pd.DataFrame:
    def points(value) -> str:
        return "–" if value is None or pd.isna(value) else f"{value:+.1f}"

    return pd.DataFrame({
        "task": frame["task"], "A − B": [f"{a} − {b}" for a, b in zip(frame["a"], frame["b"])],
        "setting": frame["setting"],
        "gain at first value": [f"{points(g)} ({v})" for g, v in
                                zip(frame["gain_first_points"], frame["first"])],
        "gain at second value": [f"{points(g)} ({v})" for g, v in
                                 zip(frame["gain_second_points"], frame["second"])],
        "change (points)": frame["change_points"].map(points), "pairs": frame["n_pairs"],
        "Wilcoxon p": frame["wilcoxon_p"].map(fmt_p), "note": frame["note"]})


def show_as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "–")


def show_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """Every metric's mean ± SD over complete scenarios, per task and source."""
    columns = {"task": frame["task"], "source": frame["source"], "n": frame["n"]}
    for name, metric in METRICS.items():
        if f"{name}_mean" in frame:
            columns[metric.label] = [mean_sd(m, s) for m, s in
                                     zip(frame[f"{name}_mean"], frame[f"{name}_sd"])]
    return pd.DataFrame(columns)


def show_efficiency(frame: pd.DataFrame) -> pd.DataFrame:
    """The label-efficiency curve's rows: fraction, source, n, mean ± SD, gain and p."""
    def gain(row) -> str:
        value = getattr(row, "gain_points", None)
        if value is None or pd.isna(value):
            return "baseline" if row.source == row.baseline else "–"
        return f"{value:+.1f} (n {int(row.n_pairs)}), p {fmt_p(row.wilcoxon_p)}, " \
               f"Holm {fmt_p(row.holm_p)}"

    return pd.DataFrame({
        "task": frame["task"], "train fraction": frame["train_fraction"].map(lambda v: f"{v:g}"),
        "source": frame["source"], "n": frame["n"],
        "mean ± SD": [mean_sd(m, s) for m, s in zip(frame["mean"], frame["sd"])],
        "median [IQR]": [f"{fmt(m)} [{fmt(a)}, {fmt(b)}]"
                         for m, a, b in zip(frame["median"], frame["q1"], frame["q3"])],
        "gain over the baseline (points), Wilcoxon": [gain(r) for r in frame.itertuples()]})


def show_equivalence(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "task": frame["task"], "source": frame["source"],
        "baseline at full data": [f"{b} {fmt(v)} (fraction {f:g})" for b, v, f in zip(
            frame["baseline"], frame["baseline_full_data"], frame["full_fraction"])],
        "first fraction reaching it": frame["equivalent_fraction"].map(
            lambda v: "not reached" if pd.isna(v) else f"{v:g}"),
        "mean there": frame["mean_there"].map(fmt)})
