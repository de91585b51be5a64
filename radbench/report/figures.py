"""The report's figures (matplotlib), each drawn from stored numbers only: scenario values per
source, a forest plot of the paired differences, ROC curves pooled over cells, training curves,
reliability diagrams. Every function returns a Figure, or None with nothing to draw; the HTML
writer embeds them and saves each as SVG and PDF under figures/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radbench.metrics import METRICS
from radbench.store import CellState, RunDir

GRID = np.linspace(0.0, 1.0, 101)  # the false positive rates ROC curves are read at


def _colours(sources: list[str]) -> dict[str, str]:
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    return {s: matplotlib.colors.to_hex(palette[i % 10]) for i, s in enumerate(sorted(sources))}


def _panels(count: int, width: float = 4.6, height: float = 3.8):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, count, figsize=(width * count, height), squeeze=False,
                                layout="constrained")
    return figure, axes[0]


def scores_figure(scenarios: pd.DataFrame, metric: str):
    """Strip plot over a box plot of complete scenarios' `metric`, one panel per task."""
    complete = scenarios[scenarios["complete"]]
    if complete.empty:
        return None
    tasks = sorted(complete["task"].unique())
    figure, axes = _panels(len(tasks))
    rng = np.random.default_rng(0)
    for axis, task in zip(axes, tasks):
        rows = complete[complete["task"] == task]
        sources = sorted(rows["source"].unique())
        values = [rows.loc[rows["source"] == s, metric].to_numpy() for s in sources]
        axis.boxplot(values, widths=0.5, showfliers=False)
        for i, v in enumerate(values, start=1):
            axis.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=14, alpha=0.7)
        axis.set_xticks(range(1, len(sources) + 1), sources, rotation=20, ha="right", fontsize=8)
        axis.set_title(task)
        axis.set_ylabel(f"scenario test {METRICS[metric].label}")
        if metric == "auc":
            axis.axhline(0.5, color="#aaa", lw=0.8, ls="--")
    return figure


def _key(values) -> tuple:
    """A scenario key that compares equal however its missing values are spelled."""
    values = values if isinstance(values, tuple) else (values,)
    return tuple("–" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                 for v in values)


def forest_rows(scenarios: pd.DataFrame, comparisons: pd.DataFrame, paired: pd.DataFrame,
                metric: str, keys: list[str]) -> list[dict]:
    """Per comparison: each matched scenario's difference A − B (with DeLong's 95 % CI when
    the metric is the AUC and the scenario is one fold of two cells on the same cases), then
    the pooled mean with its bootstrap CI. Plain data, for the plot and for a test."""
    from radbench.report.stats import paired_frame

    complete = scenarios[scenarios["complete"]]
    rows = []
    for comparison in comparisons.itertuples():
        task_rows = complete[complete["task"] == comparison.task]
        both, _, _ = paired_frame(task_rows, comparison.a, comparison.b, keys, metric)
        intervals = {}
        if metric == "auc" and len(paired):
            mine = paired[(paired["task"] == comparison.task) & (paired["a"] == comparison.a)
                          & (paired["b"] == comparison.b)]
            for key, group in mine.groupby(keys, dropna=False):
                if len(group) == 1:  # one fold: its DeLong CI is the scenario's
                    intervals[_key(key)] = (group["ci_low"].iloc[0], group["ci_high"].iloc[0])
        for key, pair in both.iterrows():
            low, high = intervals.get(_key(key), (None, None))
            named = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
            label = " · ".join(str(x) for x in (
                named.get("backbone"), named.get("freeze"), f"lr {named.get('lr'):g}"
                if isinstance(named.get("lr"), float) else None,
                f"seed {named.get('seed')}" if "seed" in named else None) if x is not None)
            rows.append({"task": comparison.task, "comparison": f"{comparison.a} − {comparison.b}",
                         "label": label, "difference": pair["a"] - pair["b"], "low": low,
                         "high": high, "pooled": False})
        if comparison.mean_difference is not None and not pd.isna(comparison.mean_difference):
            rows.append({"task": comparison.task, "comparison": f"{comparison.a} − {comparison.b}",
                         "label": f"mean of {comparison.n_pairs} (bootstrap CI)",
                         "difference": comparison.mean_difference,
                         "low": comparison.mean_ci_low, "high": comparison.mean_ci_high,
                         "pooled": True})
    return rows


def forest_figure(rows: list[dict], metric: str):
    """The forest plot of `forest_rows`: one panel per task, a group per comparison."""
    import matplotlib.pyplot as plt

    if not rows:
        return None
    frame = pd.DataFrame(rows)
    tasks = sorted(frame["task"].unique())
    heights = [len(frame[frame["task"] == t]) + frame[frame["task"] == t]["comparison"].nunique()
               for t in tasks]
    figure, axes = plt.subplots(len(tasks), 1, figsize=(7.5, 1.2 + 0.24 * sum(heights)),
                                squeeze=False, layout="constrained",
                                gridspec_kw={"height_ratios": heights})
    for axis, task in zip(axes[:, 0], tasks):
        labels, y = [], 0
        for comparison, group in frame[frame["task"] == task].groupby("comparison", sort=False):
            labels.append((y, comparison, True))
            y += 1
            for row in group.itertuples():
                if row.low is not None and not pd.isna(row.low):
                    axis.plot([row.low, row.high], [y, y], color="#222" if row.pooled else "#777",
                              lw=2 if row.pooled else 1)
                axis.plot(row.difference, y, marker="D" if row.pooled else "s",
                          color="#c0392b" if row.pooled else "#34495e",
                          ms=7 if row.pooled else 4)
                labels.append((y, row.label, False))
                y += 1
        axis.axvline(0, color="#aaa", lw=0.8, ls="--")
        axis.set_yticks([p for p, _, _ in labels], [t for _, t, _ in labels], fontsize=7)
        for tick, (_, _, header) in zip(axis.get_yticklabels(), labels):
            tick.set_fontweight("bold" if header else "normal")
        axis.set_ylim(y - 0.5, -0.5)
        axis.set_title(task, fontsize=10)
        axis.set_xlabel(f"difference in test {METRICS[metric].label} (A − B)")
    return figure


def _finished(out: Path, cells: pd.DataFrame) -> pd.DataFrame:
    return cells[cells["status"] == CellState.DONE]


def _prediction_panels(cells: pd.DataFrame, predictions: dict[str, pd.DataFrame]):
    """The finished cells with stored predictions, the colour of each source, and a square
    panel per task: (done, colours, figure, [(axis, task)]), or None with nothing to draw."""
    done = cells[(cells["status"] == CellState.DONE) & cells["cell_id"].isin(predictions)]
    if done.empty:
        return None
    tasks = sorted(done["task"].unique())
    figure, axes = _panels(len(tasks), 4.4, 4.2)
    return done, _colours(done["source"].unique().tolist()), figure, list(zip(axes, tasks))


def roc_figure(out: Path, cells: pd.DataFrame, predictions: dict[str, pd.DataFrame]):
    """Per task, per source: every finished cell's ROC curve read at common false positive
    rates; the median curve with the interquartile band over cells (not a chosen cell)."""
    from sklearn.metrics import roc_curve

    drawn = _prediction_panels(cells, predictions)
    if drawn is None:
        return None
    done, colours, figure, panels = drawn
    for axis, task in panels:
        for source, group in done[done["task"] == task].groupby("source"):
            curves = []
            for cell_id in group["cell_id"]:
                frame = predictions[cell_id]
                if frame["y_true"].nunique() < 2:
                    continue
                fpr, tpr, _ = roc_curve(frame["y_true"], frame["y_score"])
                curves.append(np.interp(GRID, fpr, tpr))
            if not curves:
                continue
            stack = np.vstack(curves)
            q1, median, q3 = np.percentile(stack, [25, 50, 75], axis=0)
            axis.fill_between(GRID, q1, q3, color=colours[source], alpha=0.2, lw=0)
            axis.plot(GRID, median, color=colours[source], label=f"{source} ({len(curves)} cells)")
        axis.plot([0, 1], [0, 1], color="#aaa", lw=0.8, ls="--")
        axis.set_title(task)
        axis.set_xlabel("false positive rate")
        axis.set_ylabel("true positive rate")
        axis.set_aspect("equal")
        axis.legend(fontsize=7, loc="lower right")
    return figure


def training_figure(out: Path, cells: pd.DataFrame):
    """Per task: per source, the median train and validation loss over cells at each epoch,
    with the interquartile band (from every finished cell's history.csv)."""
    from matplotlib.ticker import MaxNLocator

    done = _finished(out, cells)
    run = RunDir(out)
    histories = []
    for cell in done.itertuples():
        path = run.cell(cell.cell_id).history_file
        if path.is_file():
            frame = pd.read_csv(path)
            if {"epoch", "loss", "val_loss"} <= set(frame.columns):
                histories.append(frame.assign(task=cell.task, source=cell.source))
    if not histories:
        return None
    frame = pd.concat(histories, ignore_index=True)
    tasks = sorted(frame["task"].unique())
    colours = _colours(frame["source"].unique().tolist())
    figure, axes = _panels(len(tasks), 5.0, 3.8)
    for axis, task in zip(axes, tasks):
        for source, group in frame[frame["task"] == task].groupby("source"):
            for column, style in (("loss", "--"), ("val_loss", "-")):
                stats = group.groupby("epoch")[column].quantile([0.25, 0.5, 0.75]).unstack()
                axis.fill_between(stats.index, stats[0.25], stats[0.75], color=colours[source],
                                  alpha=0.15, lw=0)
                axis.plot(stats.index, stats[0.5], ls=style, color=colours[source],
                          marker="o" if len(stats) == 1 else None, ms=3,
                          label=f"{source} {'train' if column == 'loss' else 'validation'}")
        axis.set_title(task)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel("loss (median over cells, IQR band)")
        axis.legend(fontsize=7)
    return figure


def calibration_figure(cells: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                       bins: int = 10):
    """Reliability diagram per task: per source, the observed positive rate against the mean
    predicted probability in equal-width bins, test cases of every finished cell pooled; the
    legend gives the mean ECE over cells."""
    from sklearn.calibration import calibration_curve

    drawn = _prediction_panels(cells, predictions)
    if drawn is None:
        return None
    done, colours, figure, panels = drawn
    for axis, task in panels:
        for source, group in done[done["task"] == task].groupby("source"):
            pooled = pd.concat([predictions[c] for c in group["cell_id"]])
            observed, predicted = calibration_curve(pooled["y_true"],
                                                    pooled["y_score"].clip(0, 1), n_bins=bins)
            ece = group["test_ece"].mean() if "test_ece" in group else float("nan")
            axis.plot(predicted, observed, marker="o", ms=3, color=colours[source],
                      label=f"{source} (ECE {ece:.3f})")
        axis.plot([0, 1], [0, 1], color="#aaa", lw=0.8, ls="--", label="perfectly calibrated")
        axis.set_title(task)
        axis.set_xlabel("mean predicted probability (positive class)")
        axis.set_ylabel("observed positive rate")
        axis.set_aspect("equal")
        axis.legend(fontsize=7, loc="upper left")
    return figure
