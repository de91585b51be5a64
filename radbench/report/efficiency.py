"""Label efficiency: a metric against the share of training images (`train_fraction`), per
source, with the paired test against the baseline at every fraction, and each source's "data
equivalence": the smallest fraction at which it matches the baseline's full-data value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radbench.metrics import METRICS
from radbench.report.stats import choose_baseline, compare_pair, describe, holm, paired_frame

FRACTION = "train_fraction"


def has_curve(scenarios: pd.DataFrame) -> bool:
    """Whether the run's complete scenarios hold two or more training fractions."""
    complete = scenarios[scenarios["complete"]]
    return FRACTION in complete and complete[FRACTION].nunique() >= 2


def efficiency_curve(scenarios: pd.DataFrame, metric: str, keys: list[str],
                     baseline: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Per task, training fraction and source: n, mean, SD, median and quartiles of the
    complete scenarios' `metric`; for every source but the baseline, the mean gain over it in
    points with the paired Wilcoxon p (pairs matched on every key but the source, at that
    fraction), Holm-adjusted over the fractions of each task and source."""
    if not has_curve(scenarios):
        return pd.DataFrame()
    complete = scenarios[scenarios["complete"]]
    pair_keys = [k for k in keys if k != FRACTION]
    rows = []
    for task, of_task in complete.groupby("task"):
        base = choose_baseline(sorted(of_task["source"].unique()), baseline)
        for fraction, at in of_task.groupby(FRACTION):
            for source, group in at.groupby("source"):
                row = {"task": task, "train_fraction": float(fraction), "source": source,
                       "baseline": base, **describe(group[metric])}
                if source != base:
                    both, ua, ub = paired_frame(at, source, base, pair_keys, metric)
                    compared = compare_pair(str(task), source, base, both, ua, ub, seed)
                    row.update({"gain_points": compared.mean_gain_points,
                                "n_pairs": compared.n_pairs, "wilcoxon_p": compared.wilcoxon_p})
                rows.append(row)
    frame = pd.DataFrame(rows)
    if "wilcoxon_p" in frame:
        frame["holm_p"] = None
        for _, index in frame.groupby(["task", "source"]).groups.items():
            ps = [None if pd.isna(p) else float(p) for p in frame.loc[index, "wilcoxon_p"]]
            frame.loc[index, "holm_p"] = holm(ps)
    return frame


def data_equivalence(curve: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per task and source: the baseline's mean at the largest fraction (its full-data value)
    and the smallest fraction at which the source's mean reaches it (NaN: never), with the
    source's mean there."""
    if curve.empty:
        return pd.DataFrame()
    better = METRICS[metric].higher_is_better
    rows = []
    for task, of_task in curve.groupby("task"):
        base = of_task["baseline"].iloc[0]
        full = of_task["train_fraction"].max()
        target = of_task[(of_task["source"] == base) & (of_task["train_fraction"] == full)]
        if target.empty:
            continue
        reference = float(target["mean"].iloc[0])
        for source, group in of_task.groupby("source"):
            group = group.sort_values("train_fraction")
            reached = group[group["mean"] >= reference] if better else \
                group[group["mean"] <= reference]
            first = reached.iloc[0] if len(reached) else None
            rows.append({"task": task, "source": source, "baseline": base,
                         "baseline_full_data": reference, "full_fraction": float(full),
                         "equivalent_fraction": float(first["train_fraction"])
                         if first is not None else np.nan,
                         "mean_there": float(first["mean"]) if first is not None else np.nan})
    return pd.DataFrame(rows)


def efficiency_figure(curve: pd.DataFrame, metric: str):
    """The metric against the training fraction (log axis) per source: median over scenarios
    with the interquartile band, one panel per task."""
    import matplotlib
    import matplotlib.pyplot as plt

    if curve.empty:
        return None
    tasks = sorted(curve["task"].unique())
    palette = matplotlib.colormaps["tab10"].colors
    colours = {s: palette[i % 10] for i, s in enumerate(sorted(curve["source"].unique()))}
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4), squeeze=False,
                                layout="constrained")
    for axis, task in zip(axes[0], tasks):
        for source, group in curve[curve["task"] == task].groupby("source"):
            group = group.sort_values("train_fraction")
            axis.fill_between(group["train_fraction"], group["q1"], group["q3"],
                              color=colours[source], alpha=0.2, lw=0)
            axis.plot(group["train_fraction"], group["median"], marker="o", ms=4,
                      color=colours[source], label=source)
        fractions = sorted(curve.loc[curve["task"] == task, "train_fraction"].unique())
        axis.set_xscale("log")
        axis.set_xticks(fractions, [f"{f:g}" for f in fractions])
        axis.minorticks_off()
        axis.set_title(task)
        axis.set_xlabel("share of the training images (log scale)")
        axis.set_ylabel(f"scenario test {METRICS[metric].label} (median, IQR band)")
        axis.legend(fontsize=7)
    return figure
