"""The report's sections, built from one run's inputs: each table of the report as a `Section`
(its numbers and how they are shown), in groups (summaries, comparisons, label efficiency,
localization, cells). A new statistic is one more `Section` in its group; every format then
shows it (radbench.report.formats, radbench.report.html)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from radbench.metrics import METRICS
from radbench.report.analysis import PAIR_KEYS, gain_by_setting, paired_cells, summaries
from radbench.report.collect import per_class_auc, scenario_table
from radbench.report.efficiency import data_equivalence
from radbench.report.shown import fmt_p, mean_sd, show_as_is, show_cell_pairs, show_cells, \
    show_comparisons, show_efficiency, show_equivalence, show_friedman, show_gain_by_setting, \
    show_localization, show_metrics, show_per_source, show_summary_rows
from radbench.report.stats import choose_baseline
from radbench.store import CellState


@dataclass
class Section:
    """One table of the report."""

    key: str  # its key in report.json
    title: str
    frame: pd.DataFrame  # the numbers
    shown: Callable[[pd.DataFrame], pd.DataFrame]  # the same rows as text, for reading
    note: str = ""  # one line under the title
    terminal: bool = False  # also printed by `radbench report` on the terminal
    csv: str = ""  # its file in the run directory; default report_<key>.csv

    def __post_init__(self) -> None:
        self.csv = self.csv or f"report_{self.key}.csv"

    def text(self) -> pd.DataFrame:
        """The rows as text (empty frame when the section is)."""
        return self.shown(self.frame) if len(self.frame) else pd.DataFrame()


@dataclass
class ReportInputs:
    """What the sections are computed from: the run's cells and scenarios (sources labelled),
    the stored predictions, the source comparisons, and the report's options."""

    metric: str
    seed: int
    baseline: str | None
    cells: pd.DataFrame  # one row per cell
    scenarios: pd.DataFrame  # one row per scenario
    predictions: dict  # two-class cells' test predictions by cell id
    comparisons: pd.DataFrame  # each source against the baseline (or the --compare pairs)
    friedman: list
    chosen_pairs: list  # (a, b) source pairs the cell-level tests compare
    intervals: pd.DataFrame  # per-cell CIs with every metric
    curve: pd.DataFrame  # label efficiency
    localization: pd.DataFrame
    localization_comparisons: pd.DataFrame
    flags: pd.DataFrame  # radbench.report.flags: what a reader could misread
    external: pd.DataFrame  # radbench.report.external: per task, site and source
    external_pairs: pd.DataFrame  # per site, each source against the baseline

    @property
    def label(self) -> str:
        return METRICS[self.metric].label

    @property
    def direction(self) -> str:
        return "" if METRICS[self.metric].higher_is_better else \
            f" Lower {self.label} is better: a negative gain favours A."


def summarize(scenarios: pd.DataFrame, by: list[str], value: str = "auc") -> pd.DataFrame:
    """n, mean, SD (n - 1), min and max of complete scenarios' `value` per `by` group."""
    complete = scenarios[scenarios["complete"]]
    return complete.groupby(by, dropna=False)[value].agg(
        n="count", mean="mean", sd="std", min="min", max="max").reset_index()


def headline_table(scenarios: pd.DataFrame, cells: pd.DataFrame,
                   value: str = "auc") -> pd.DataFrame:
    """Per task x source, over all backbones ('all') and per backbone; beside the numbers, how
    many of the finished cells behind them are degenerate."""
    done = cells[cells["status"] == CellState.DONE]
    parts = []
    for by in (["task", "source"], ["task", "source", "backbone"]):
        part = summarize(scenarios, by, value)
        counted = done.groupby(by)["degenerate"].agg(cells_done="size", degenerate_cells="sum")
        part = part.merge(counted.reset_index(), on=by, how="left")
        if "backbone" not in by:
            part.insert(2, "backbone", "all")
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    rows[["cells_done", "degenerate_cells"]] = rows[["cells_done", "degenerate_cells"]] \
        .fillna(0).astype(int)
    return rows.sort_values(["task", "source", "backbone"], key=lambda s: s.map(
        lambda v: "" if v == "all" else str(v))).reset_index(drop=True)


def paper_table(scenarios: pd.DataFrame, comparisons: pd.DataFrame,
                baseline: str | None = None, value: str = "auc") -> pd.DataFrame:
    """The paper's layout: one row per task; per source the mean ± SD of the scenario `value` over
    the scenarios that every source of the task completed (matched, so that the columns average
    the same scenarios), the baseline first; then each source's mean gain over the baseline in
    points with its 95 % bootstrap CI, Wilcoxon p and number of pairs; and how many scenarios had no partner
    in every source and were left out."""
    rows = []
    complete = scenarios[scenarios["complete"]]
    for task, group in complete.groupby("task"):
        sources = sorted(group["source"].unique())
        base = choose_baseline(sources, baseline)
        order = [base] + [s for s in sources if s != base]
        wide = group.set_index(PAIR_KEYS + ["source"])[value].unstack("source")
        matched = wide.dropna()
        row = {"task": task, "scenarios": len(matched),
               "left out": int(wide.notna().sum().sum() - matched.size)}
        for source in order:
            row[source] = mean_sd(matched[source].mean(), matched[source].std()) \
                if len(matched) else "–"
        for source in order[1:]:
            found = comparisons[(comparisons["task"] == task) & (comparisons["a"] == source)
                                & (comparisons["b"] == base)] if len(comparisons) else []
            if len(found):
                first = found.iloc[0]
                gain = first["mean_gain_points"]
                ci = "" if first.get("mean_ci_low") is None or pd.isna(first["mean_ci_low"]) \
                    else f" [{100 * first['mean_ci_low']:+.1f}, {100 * first['mean_ci_high']:+.1f}]"
                unranked = ci and first["mean_ci_low"] <= 0 <= first["mean_ci_high"]
                row[f"{source} − {base}"] = (
                    f"{gain:+.1f}{ci} points, p {fmt_p(first['wilcoxon_p'])} "
                    f"(n {first['n_pairs']})" + ("; cannot rank the sources" if unranked else "")
                    if gain is not None and not pd.isna(gain) else f"– (n {first['n_pairs']})")
        rows.append(row)
    return pd.DataFrame(rows)


def metric_summary(cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per task x source: every metric's mean and SD over the scenarios complete for it; n is
    the number of complete scenarios of the headline `metric`."""
    merged = None
    for name in METRICS:
        part = summarize(scenario_table(cells, name), ["task", "source"], name)
        part = part.rename(columns={"mean": f"{name}_mean", "sd": f"{name}_sd", "n": f"{name}_n"})
        part = part[["task", "source", f"{name}_n", f"{name}_mean", f"{name}_sd"]]
        merged = part if merged is None else merged.merge(part, on=["task", "source"],
                                                          how="outer")
    if merged is None or merged.empty:
        return pd.DataFrame()
    merged.insert(2, "n", merged.pop(f"{metric}_n").fillna(0).astype(int))
    return merged


def summary_sections(i: ReportInputs) -> list[Section]:
    """The headline, the paper-style table, every metric and the breakdowns."""
    labelled_scenarios = i.scenarios
    labelled_cells = i.cells
    baseline = i.baseline
    metric = i.metric
    label = i.label
    direction = i.direction
    comparisons = i.comparisons
    table = headline_table(labelled_scenarios, labelled_cells, metric)
    return [
        Section("warnings", "Read these numbers with care", i.flags, show_as_is,
                "underpowered: a test part with fewer than 10 positives or negatives (its AUC "
                "CI width beside it); below chance: an AUC under 0.5 whose 95 % CI excludes "
                "0.5 (a cell's DeLong CI; a headline mean's t-interval over scenarios); cannot "
                "rank: a source gain whose 95 % CI holds zero", terminal=True),
        Section("table", f"Test {label}, mean ± SD over scenarios", table,
                lambda f: show_summary_rows(f, "backbone", label),
                "n = number of complete scenarios; 'all' = every backbone; degenerate cells: "
                "finished cells whose every test case got the same score", terminal=True,
                csv="report.csv"),
        Section("paper_table", f"Paper-style table ({label})",
                paper_table(labelled_scenarios, comparisons, baseline, metric), show_as_is,
                "one row per task; each source's mean ± SD over the scenarios every source "
                "completed (scenarios: how many; left out: those without a partner in every "
                f"source); each source's mean gain over the baseline in {label} points with its "
                "95 % bootstrap CI, the Wilcoxon p and number of pairs of its comparison."
                + direction),
        Section("metrics", "Every metric, mean ± SD over scenarios",
                metric_summary(labelled_cells, metric), show_metrics,
                "thresholded metrics at the threshold chosen on each cell's validation part "
                "(Youden's J), reported on test; Brier score and ECE "
                "(radbench.metrics) lower is better; each metric over the scenarios complete "
                f"for it; n: complete scenarios of the headline metric ({label})"),
        Section("per_class_auc", "Per-class AUC (multi-class tasks)",
                per_class_auc(labelled_cells), show_as_is,
                "one-vs-rest AUC of each class, mean over the finished cells of each task and "
                "source (the headline AUC of a multi-class task is their macro average)"),
        Section("by_freeze", "By freeze setting", summarize(
            labelled_scenarios, ["task", "source", "freeze"], metric),
            lambda f: show_summary_rows(f, "freeze", label)),
        Section("by_lr", "By learning rate", summarize(
            labelled_scenarios, ["task", "source", "lr"], metric),
            lambda f: show_summary_rows(f, "lr", label)),
        Section("summary", "Per task and source",
                summaries(labelled_scenarios, labelled_cells, metric),
                show_per_source, f"{label} of complete scenarios; fold SD: mean SD over a "
                "scenario's folds; seeds: their number and the mean SD over seeds of otherwise "
                "equal scenarios"),
    ]


def comparison_sections(i: ReportInputs) -> list[Section]:
    """The paired comparisons of sources against the baseline, also per training fraction
    (label efficiency, data equivalence); whether a gain depends on a setting; Friedman."""
    labelled_scenarios = i.scenarios
    comparisons = i.comparisons
    metric = i.metric
    label = i.label
    direction = i.direction
    friedman = i.friedman
    curve = i.curve
    seed = i.seed
    return [
        Section("comparisons", f"Paired comparisons of {label} (Wilcoxon signed-rank primary, "
                "Holm-adjusted)", comparisons,
                lambda f: show_comparisons(f, "median difference", f"mean gain ({label} points)"),
                "Every source minus the baseline (imagenet when present, else scratch; "
                f"--baseline), as the paper states gains: the mean difference in {label} "
                "points, with its 95 % bootstrap CI. Scenarios are paired on everything but the "
                "source. Primary test: two-sided Wilcoxon signed-rank on the paired "
                "differences; Holm adjusts over every Wilcoxon p of this report; paired t-test "
                "secondary; effect size: matched-pairs rank-biserial correlation." + direction,
                terminal=True),
        Section("label_efficiency", f"Label efficiency: test {label} against the share of "
                "training images", curve, show_efficiency,
                "per training fraction (grid axis train_fraction: nested, group-whole, "
                "stratified subsets of each fold's training images), the complete scenarios of "
                "each source; each source against the baseline at that fraction (paired on "
                "every other key; Wilcoxon, Holm over the fractions of each source)",
                terminal=True),
        Section("data_equivalence", "Data equivalence", data_equivalence(curve, metric),
                show_equivalence, "the smallest training fraction at which each source's mean "
                f"{label} reaches the baseline's at the largest fraction (full data)",
                terminal=True),
        Section("gain_by_setting", "Does the gain depend on a training setting?",
                gain_by_setting(labelled_scenarios, comparisons, seed, metric),
                show_gain_by_setting, "for each training setting with two values in this run "
                "(e.g. bn-check's BatchNorm calibration): each comparison's gain per scenario "
                "under either value, paired on every other key; Wilcoxon signed-rank on the "
                "change of the gain", terminal=True),
        Section("friedman", "Friedman tests (three or more sources)", pd.DataFrame(friedman),
                show_friedman, "sources compared over the scenarios every one of them "
                "completed; pairwise Wilcoxon tests above", terminal=True),
    ]


def localization_sections(i: ReportInputs) -> list[Section]:
    """Grad-CAM lesion localization and its paired comparisons."""
    localization_comparisons = i.localization_comparisons
    localization = i.localization
    return [
        Section("localization", "Lesion localization (Grad-CAM)", localization,
                show_localization, "Grad-CAM at the backbone's last convolutional block, "
                "binarised at 0.5 of each map's maximum, against the lesion masks of test images "
                "with a lesion; scenario means over folds, then mean ± SD over scenarios.",
                terminal=True),
        Section("localization_comparisons", "Paired comparisons of lesion localization (Dice)",
                localization_comparisons,
                lambda f: show_comparisons(f, "median Dice difference",
                                           "mean Dice gain (points)")),
    ]


def cell_sections(i: ReportInputs) -> list[Section]:
    """Per-cell intervals, DeLong's paired cell tests, the scenario table."""
    labelled_scenarios = i.scenarios
    labelled_cells = i.cells
    label = i.label
    intervals = i.intervals
    predictions = i.predictions
    chosen = i.chosen_pairs
    return [
        Section("cell_intervals", "Per-cell test AUC with 95 % CIs, and every metric",
                intervals, show_cells,
                "stratified bootstrap (cases resampled within each class) and DeLong; the "
                "thresholded metrics at the cell's validation (Youden) threshold",
                csv="report_cells.csv"),
        Section("paired_cells", "DeLong's paired test of two sources' cells",
                paired_cells(labelled_cells, predictions, sorted(set(chosen))),
                show_cell_pairs, "cells of two sources with the same scenario keys and fold, "
                "on the same test cases; the CI: difference ± 1.96 DeLong SE",
                csv="report_cell_pairs.csv"),
        Section("scenario_table", "Scenarios", labelled_scenarios, show_as_is,
                f"one row per scenario: the mean test {label} over its folds",
                csv="report_scenarios.csv"),
    ]


def external_sections(i: ReportInputs) -> list[Section]:
    """External validation: internal against external AUC per site and source, and the paired
    comparison of sources on each site."""
    from radbench.report.external import show_external, show_external_pairs

    return [
        Section("external", "External validation", i.external, show_external,
                "per task, site (`run --test-data`, data.external) and source: the cell with "
                "the highest validation AUC among those whose kept model scored the site; its "
                "test AUC on the task's own data and its AUC on the site, each with its DeLong "
                "95 % CI", terminal=True),
        Section("external_comparisons", "External validation: sources compared per site",
                i.external_pairs, show_external_pairs,
                "each source's chosen cell minus the baseline's on the site's cases: DeLong's "
                "paired test; the CI: difference ± 1.96 DeLong SE", terminal=True),
    ]
