"""The report as typed data: a `Report` built once from a run directory, then rendered by the
writers (radbench.report.formats: md, csv, json, tex and the terminal; radbench.report.html).

Every table is a `Section`: its numbers (a DataFrame, for csv and json) and how it is shown (a
function giving the rows as text, for md, html, tex and the terminal). A new statistic is one
more section in `build_report`; every format then shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from radbench.report.analysis import PAIR_KEYS, cell_intervals, degenerate_pairs, \
    gain_by_setting, localization_summary, paired_cells, parse_baseline, parse_compare, \
    summaries
from radbench.report.collect import collect_cells, data_notes, scenario_table, source_label, \
    stored_predictions
from radbench.report.stats import choose_baseline, compare_sources
from radbench.store import CellState


def fmt(value) -> str:
    """A number as the report prints it (3 decimals; – for none)."""
    return "–" if value is None or pd.isna(value) else f"{value:.3f}"


def fmt_p(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def mean_sd(mean, sd) -> str:
    return f"{fmt(mean)} ± {fmt(sd)}"


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
class Report:
    """Everything `radbench report` shows about one run directory."""

    cells: dict[str, int]  # total, done, failed, pending, degenerate
    scenarios: dict[str, int]  # total, complete, incomplete
    sections: dict[str, Section]
    data: list[dict]  # data.json of every dataset of the run
    notes: list[str]
    cell_table: pd.DataFrame = field(repr=False)  # one row per cell, sources labelled (plots)
    scenario_frame: pd.DataFrame = field(repr=False)  # one row per scenario (plots)

    def __getitem__(self, key: str) -> pd.DataFrame:
        """The numbers of section `key`."""
        return self.sections[key].frame


def summarize(scenarios: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """n, mean, SD (n - 1), min and max of complete scenarios' AUC per `by` group."""
    complete = scenarios[scenarios["complete"]]
    return complete.groupby(by, dropna=False)["auc"].agg(
        n="count", mean="mean", sd="std", min="min", max="max").reset_index()


def headline_table(scenarios: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per task x source, over all backbones ('all') and per backbone; beside the numbers, how
    many of the finished cells behind them are degenerate."""
    done = cells[cells["status"] == CellState.DONE]
    parts = []
    for by in (["task", "source"], ["task", "source", "backbone"]):
        part = summarize(scenarios, by)
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
                baseline: str | None = None) -> pd.DataFrame:
    """The paper's layout: one row per task; per source the mean ± SD of the scenario AUC over
    the scenarios that every source of the task completed (matched, so that the columns average
    the same scenarios), the baseline first; then each source's mean gain over the baseline in
    AUC points with its Wilcoxon p and number of pairs; and how many scenarios had no partner
    in every source and were left out."""
    rows = []
    complete = scenarios[scenarios["complete"]]
    for task, group in complete.groupby("task"):
        sources = sorted(group["source"].unique())
        base = choose_baseline(sources, baseline)
        order = [base] + [s for s in sources if s != base]
        wide = group.set_index(PAIR_KEYS + ["source"])["auc"].unstack("source")
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
                row[f"{source} − {base}"] = (
                    f"{gain:+.1f} points, p {fmt_p(first['wilcoxon_p'])} "
                    f"(n {first['n_pairs']})" if gain is not None and not pd.isna(gain)
                    else f"– (n {first['n_pairs']})")
        rows.append(row)
    return pd.DataFrame(rows)


def _show_summary_rows(frame: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    columns = {"task": frame["task"], "source": frame["source"]}
    if by:
        columns[by] = frame[by]
    columns["n"] = frame["n"]
    columns["AUC mean ± SD"] = [mean_sd(m, s) for m, s in zip(frame["mean"], frame["sd"])]
    if "min" in frame and by == "backbone":
        columns["min"] = frame["min"].map(fmt)
        columns["max"] = frame["max"].map(fmt)
        columns["degenerate cells"] = [
            f"{d} of {n} DEGENERATE" if d else f"0 of {n}"
            for d, n in zip(frame["degenerate_cells"], frame["cells_done"])]
    return pd.DataFrame(columns)


def _show_per_source(frame: pd.DataFrame) -> pd.DataFrame:
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


def _show_comparisons(frame: pd.DataFrame, what: str = "median difference",
                      gain: str = "mean gain (AUC points)") -> pd.DataFrame:
    rows = []
    for c in frame.itertuples():
        mean = "–" if c.mean_gain_points is None or pd.isna(c.mean_gain_points) else \
            f"{c.mean_gain_points:+.1f}"
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
    return pd.DataFrame(rows, columns=["task", "A − B", "pairs", gain,
                                       f"{what} [95 % bootstrap CI]", "Wilcoxon p (primary)",
                                       "Holm p", "paired t p", "rank-biserial r", "note"])


def _show_localization(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "task": frame["task"], "source": frame["source"], "n": frame["n"],
        **{name: [mean_sd(m, s) for m, s in zip(frame[f"{key}_mean"], frame[f"{key}_sd"])]
           for name, key in (("Dice", "dice"), ("IoU", "iou"), ("pointing game", "pointing"))}})


def _show_cells(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "cell": frame["cell_id"], "task": frame["task"], "source": frame["source"],
        "backbone": frame["backbone"], "freeze": frame["freeze"],
        "lr": frame["lr"].map(lambda v: f"{v:g}"), "fold": frame["fold"], "seed": frame["seed"],
        "n test": frame["n_test"], "AUC": frame["auc"].map(fmt),
        "bootstrap 95 % CI": [f"[{fmt(a)}, {fmt(b)}]" for a, b in
                              zip(frame["bootstrap_low"], frame["bootstrap_high"])],
        "DeLong 95 % CI": [f"[{fmt(a)}, {fmt(b)}]" for a, b in
                           zip(frame["delong_low"], frame["delong_high"])]})


def _show_cell_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "task": frame["task"], "A − B": [f"{a} − {b}" for a, b in zip(frame["a"], frame["b"])],
        "backbone": frame["backbone"], "freeze": frame["freeze"],
        "lr": frame["lr"].map(lambda v: f"{v:g}"), "seed": frame["seed"], "fold": frame["fold"],
        "n test": frame["n_test"], "AUC difference": frame["auc_difference"].map(
            lambda v: f"{v:+.3f}"), "DeLong p": frame["delong_p"].map(fmt_p)})


def _show_friedman(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"task": frame["task"],
                         "sources": frame["sources"].map(", ".join),
                         "matched scenarios": frame["n_blocks"], "p": frame["p"].map(fmt_p)})


def _show_gain_by_setting(frame: pd.DataFrame) -> pd.DataFrame:
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


def _show_as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "–")


def report_notes(cells: dict, scenarios: dict, data: list[dict]) -> list[str]:
    notes = [f"cells: {cells['done']} done, {cells['failed']} failed, {cells['pending']} pending; "
             f"scenarios: {scenarios['complete']} complete of {scenarios['total']} (only "
             f"complete scenarios count; a scenario's AUC is the mean over its folds)"]
    if cells.get("degenerate"):
        notes.append(f"{cells['degenerate']} finished cell(s) are DEGENERATE: every test case "
                     f"got (nearly) the same score, so their AUC (0.5, or ties) says nothing "
                     f"about the model. They are counted in the tables (column 'degenerate "
                     f"cells'; comparisons say how many pairs hold one). Typical of BatchNorm "
                     f"statistics that did not follow the weights, e.g. a scratch backbone "
                     f"after a few steps; `radbench status DIR` lists them")
    for entry in data:
        counts = ", ".join(f"{k} {v}" for k, v in entry["counts"].items())
        line = f"{entry['task']}: {counts} (split {entry['split_id']})"
        if entry.get("paper_counts"):
            line += "; paper: " + ", ".join(f"{k} {v}" for k, v in entry["paper_counts"].items())
        notes.append(line)
        notes.extend(f"{entry['task']}: {note}" for note in entry.get("notes", []))
    return notes


def build_report(out: Path, compare: str | None = None, seed: int = 0,
                 baseline: str | None = None) -> Report:
    """Read run directory `out` and compute every table and statistic of its report. Every
    source is compared with `baseline` (default: imagenet when present, else scratch)."""
    cells = collect_cells(out)
    scenarios = scenario_table(cells)
    labelled_scenarios = scenarios.assign(source=scenarios["source"].map(source_label))
    labelled_cells = cells.assign(source=cells["source"].map(source_label))
    status = cells["status"].value_counts()
    counts = {"total": len(cells), "done": int(status.get(CellState.DONE, 0)),
              "failed": int(status.get(CellState.FAILED, 0)),
              "pending": int(status.get(CellState.PENDING, 0)),
              "degenerate": int(cells["degenerate"].sum())}
    scenario_counts = {"total": len(scenarios), "complete": int(scenarios["complete"].sum()),
                       "incomplete": int((~scenarios["complete"]).sum())}
    sources = sorted(labelled_scenarios["source"].unique())
    pairs = parse_compare(compare, sources)
    parse_baseline(baseline, sources)
    found, friedman = compare_sources(labelled_scenarios, PAIR_KEYS, pairs, seed,
                                      baseline=baseline)
    comparisons = pd.DataFrame([c.to_dict() for c in found])
    if len(comparisons):
        comparisons["degenerate_pairs"] = degenerate_pairs(labelled_scenarios, comparisons)
    predictions = stored_predictions(out, cells)
    localization, localization_comparisons = localization_summary(
        out, labelled_cells, pairs, seed, baseline)
    chosen = pairs or [(c.a, c.b) for c in found]
    table = headline_table(labelled_scenarios, labelled_cells)
    data = data_notes(out)
    sections = [
        Section("table", "Test AUC, mean ± SD over scenarios", table,
                lambda f: _show_summary_rows(f, "backbone"),
                "n = number of complete scenarios; 'all' = every backbone; degenerate cells: "
                "finished cells whose every test case got the same score", terminal=True,
                csv="report.csv"),
        Section("paper_table", "Paper-style table",
                paper_table(labelled_scenarios, comparisons, baseline), _show_as_is,
                "one row per task; each source's mean ± SD over the scenarios every source "
                "completed (scenarios: how many; left out: those without a partner in every "
                "source); each source's mean gain over the baseline in AUC points, with the "
                "Wilcoxon p and number of pairs of its comparison"),
        Section("by_freeze", "By freeze setting", summarize(
            labelled_scenarios, ["task", "source", "freeze"]),
            lambda f: _show_summary_rows(f, "freeze")),
        Section("by_lr", "By learning rate", summarize(
            labelled_scenarios, ["task", "source", "lr"]), lambda f: _show_summary_rows(f, "lr")),
        Section("summary", "Per task and source", summaries(labelled_scenarios, labelled_cells),
                _show_per_source, "fold SD: mean SD over a scenario's folds; seeds: their "
                "number and the mean SD over seeds of otherwise equal scenarios"),
        Section("comparisons", "Paired comparisons (Wilcoxon signed-rank primary, "
                "Holm-adjusted)", comparisons, _show_comparisons,
                "Every source minus the baseline (imagenet when present, else scratch; "
                "--baseline), as the paper states gains: the mean difference in AUC points. "
                "Scenarios are paired on everything but the source. Primary test: two-sided "
                "Wilcoxon signed-rank on the paired differences; Holm adjusts over every "
                "Wilcoxon p of this report; paired t-test secondary; effect size: matched-pairs "
                "rank-biserial correlation.", terminal=True),
        Section("gain_by_setting", "Does the gain depend on a training setting?",
                gain_by_setting(labelled_scenarios, comparisons, seed),
                _show_gain_by_setting, "for each training setting with two values in this run "
                "(e.g. bn-check's BatchNorm calibration): each comparison's gain per scenario "
                "under either value, paired on every other key; Wilcoxon signed-rank on the "
                "change of the gain", terminal=True),
        Section("friedman", "Friedman tests (three or more sources)", pd.DataFrame(friedman),
                _show_friedman, "sources compared over the scenarios every one of them "
                "completed; pairwise Wilcoxon tests above", terminal=True),
        Section("localization", "Lesion localization (Grad-CAM)", localization,
                _show_localization, "Grad-CAM at the backbone's last convolutional block, "
                "binarised at 0.5 of each map's maximum, against the lesion masks of test images "
                "with a lesion; scenario means over folds, then mean ± SD over scenarios.",
                terminal=True),
        Section("localization_comparisons", "Paired comparisons of lesion localization (Dice)",
                localization_comparisons,
                lambda f: _show_comparisons(f, "median Dice difference",
                                            "mean Dice gain (points)")),
        Section("cell_intervals", "Per-cell test AUC with 95 % CIs",
                cell_intervals(labelled_cells, predictions, seed=seed), _show_cells,
                "stratified bootstrap (cases resampled within each class) and DeLong",
                csv="report_cells.csv"),
        Section("paired_cells", "DeLong's paired test of two sources' cells",
                paired_cells(labelled_cells, predictions, sorted(set(chosen))),
                _show_cell_pairs, "cells of two sources with the same scenario keys and fold, "
                "on the same test cases", csv="report_cell_pairs.csv"),
        Section("scenario_table", "Scenarios", labelled_scenarios, _show_as_is,
                "one row per scenario: the mean test AUC over its folds",
                csv="report_scenarios.csv"),
    ]
    return Report(cells=counts, scenarios=scenario_counts,
                  sections={s.key: s for s in sections}, data=data,
                  notes=report_notes(counts, scenario_counts, data), cell_table=labelled_cells,
                  scenario_frame=labelled_scenarios)
