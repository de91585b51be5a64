"""The report as typed data: a `Report` built once from a run directory, then rendered by the
writers (radbench.report.formats: md, csv, json, tex and the terminal; radbench.report.html).

Every table is a `Section` (radbench.report.sections): its numbers (a DataFrame, for csv and
json) and how it is shown (a function giving the rows as text, for md, html, tex and the
terminal). A new statistic is one more section in its group there; every format then shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from radbench.errors import ConfigError
from radbench.metrics import METRICS
from radbench.report.analysis import PAIR_KEYS, cell_intervals, degenerate_pairs, \
    localization_summary, parse_baseline, parse_compare
from radbench.report.collect import add_metrics, binary_only, collect_cells, data_notes, \
    metric_column, scenario_table, source_label, stored_predictions
from radbench.report.efficiency import efficiency_curve
from radbench.report.external import external_tables
from radbench.report.flags import cell_power, flags, headline_notes
from radbench.report.provenance import run_provenance
from radbench.report.sections import ReportInputs, Section, cell_sections, \
    comparison_sections, external_sections, localization_sections, summary_sections
from radbench.report.stats import choose_baseline, compare_sources
from radbench.store import CellState

__all__ = ["Report", "Section", "build_report"]


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
    metric: str = "auc"  # the headline's metric (radbench.metrics.METRICS), its column name
    baseline: dict[str, str] = field(default_factory=dict)  # task -> the baseline source
    provenance: dict = field(default_factory=dict)  # radbench.report.provenance
    # two-class cells' stored test predictions, by cell id, read once (tables and figures)
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> pd.DataFrame:
        """The numbers of section `key`."""
        return self.sections[key].frame


def report_notes(cells: dict, scenarios: dict, data: list[dict],
                 label: str = "AUC") -> list[str]:
    notes = [f"cells: {cells['done']} done, {cells['failed']} failed, {cells['pending']} pending; "
             f"scenarios: {scenarios['complete']} complete of {scenarios['total']} (only "
             f"complete scenarios count; a scenario's {label} is the mean over its folds)"]
    if cells.get("without_metric"):
        notes.append(f"{cells['without_metric']} finished cell(s) have no {label}: they were "
                     f"stored without validation predictions (val_predictions.csv, which "
                     f"older radbench did not write) or without predictions.csv, so their scenarios are "
                     f"incomplete for it; AUC is unaffected")
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


def parse_metric(value: str) -> str:
    """`--metric NAME`: one of radbench.metrics.METRICS (else a ConfigError)."""
    if value not in METRICS:
        raise ConfigError(f"--metric {value!r}: unknown metric; expected one of "
                          f"{', '.join(METRICS)}")
    return value


def build_report(out: Path, compare: str | None = None, seed: int = 0,
                 baseline: str | None = None, metric: str = "auc",
                 command: list[str] | None = None) -> Report:
    """Read run directory `out` and compute every table and statistic of its report. Every
    source is compared with `baseline` (default: imagenet when present, else scratch), on
    `metric` (radbench.metrics.METRICS; AUC by default). `command`: the report's own
    command line, for the provenance header."""
    parse_metric(metric)
    cells = collect_cells(out)
    every_prediction = stored_predictions(out, cells)
    cells = add_metrics(out, cells, every_prediction)
    inputs = read_inputs(out, cells, binary_only(every_prediction), compare, seed, baseline,
                         metric)
    sections = [*summary_sections(inputs), *comparison_sections(inputs),
                *external_sections(inputs), *localization_sections(inputs),
                *cell_sections(inputs)]
    counts = cell_counts(cells, metric)
    scenarios = inputs.scenarios
    scenario_counts = {"total": len(scenarios), "complete": int(scenarios["complete"].sum()),
                       "incomplete": int((~scenarios["complete"]).sum())}
    bases = {task: choose_baseline(sorted(rows["source"].unique()), baseline)
             for task, rows in scenarios.groupby("task")}
    data = data_notes(out)
    return Report(cells=counts, scenarios=scenario_counts,
                  sections={s.key: s for s in sections}, data=data,
                  notes=headline_notes(inputs.flags)
                  + report_notes(counts, scenario_counts, data, inputs.label),
                  cell_table=inputs.cells, scenario_frame=scenarios, metric=metric,
                  baseline=bases, provenance=run_provenance(out, command),
                  predictions=inputs.predictions)


def cell_counts(cells: pd.DataFrame, metric: str) -> dict[str, int]:
    """How many cells are done, failed, pending, degenerate, and done without `metric`."""
    status = cells["status"].value_counts()
    return {"total": len(cells), "done": int(status.get(CellState.DONE, 0)),
            "failed": int(status.get(CellState.FAILED, 0)),
            "pending": int(status.get(CellState.PENDING, 0)),
            "degenerate": int(cells["degenerate"].sum()),
            "without_metric": int(((cells["status"] == CellState.DONE)
                                   & cells[metric_column(metric)].isna()).sum())}


def read_inputs(out: Path, cells: pd.DataFrame, predictions: dict, compare: str | None,
                seed: int, baseline: str | None, metric: str) -> ReportInputs:
    """The scenarios, the source comparisons and the other frames every section reads."""
    scenarios = scenario_table(cells, metric)
    labelled_scenarios = scenarios.assign(source=scenarios["source"].map(source_label))
    labelled_cells = cells.assign(source=cells["source"].map(source_label))
    sources = sorted(labelled_scenarios["source"].unique())
    pairs = parse_compare(compare, sources)
    parse_baseline(baseline, sources)
    found, friedman = compare_sources(labelled_scenarios, PAIR_KEYS, pairs, seed, value=metric,
                                      baseline=baseline)
    comparisons = pd.DataFrame([c.to_dict() for c in found])
    if len(comparisons):
        comparisons["degenerate_pairs"] = degenerate_pairs(labelled_scenarios, comparisons)
    localization, localization_comparisons = localization_summary(
        out, labelled_cells, pairs, seed, baseline)
    external = external_tables(out, labelled_cells, baseline)
    intervals = cell_power(cell_intervals(labelled_cells, predictions, seed=seed), predictions)
    if len(intervals):
        extra = [metric_column(m) for m in METRICS if m != "auc"] + ["threshold"]
        intervals = intervals.merge(labelled_cells[["cell_id", *extra]].rename(
            columns={metric_column(m): m for m in METRICS}), on="cell_id", how="left")
    return ReportInputs(
        metric=metric, seed=seed, baseline=baseline, cells=labelled_cells,
        scenarios=labelled_scenarios, predictions=predictions, comparisons=comparisons,
        friedman=friedman, chosen_pairs=sorted(set(pairs or [(c.a, c.b) for c in found])),
        intervals=intervals,
        curve=efficiency_curve(labelled_scenarios, metric, PAIR_KEYS, baseline, seed),
        localization=localization, localization_comparisons=localization_comparisons,
        flags=flags(intervals, labelled_scenarios, comparisons, metric,
                    external=external[0]),
        external=external[0], external_pairs=external[1])
