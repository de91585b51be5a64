"""The paper's table: per task × source, mean ± SD over scenarios of the scenario AUC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from radbench.report.collect import collect_cells, data_notes, scenario_table, source_label
from radbench.store import CellState, atomic_write_csv, atomic_write_text


def summarize(scenarios: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """n, mean, SD (n - 1), min and max of complete scenarios' AUC per `by` group."""
    complete = scenarios[scenarios["complete"]]
    table = complete.groupby(by, dropna=False)["auc"].agg(
        n="count", mean="mean", sd="std", min="min", max="max").reset_index()
    return table


def build_report(out: Path, compare: str | None = None) -> dict[str, Any]:
    """Everything `radbench report` shows, as plain data (statistics included)."""
    from radbench.report.analysis import analyse

    cells = collect_cells(out)
    scenarios = scenario_table(cells)
    overall = summarize(scenarios, ["task", "source"])
    overall.insert(2, "backbone", "all")
    per_backbone = summarize(scenarios, ["task", "source", "backbone"])
    rows = pd.concat([overall, per_backbone], ignore_index=True)
    rows = rows.sort_values(["task", "source", "backbone"], key=lambda s: s.map(
        lambda v: "" if v == "all" else str(v))).reset_index(drop=True)
    rows["source"] = rows["source"].map(source_label)
    status = cells["status"].value_counts()
    constant = int(cells["constant"].sum())
    incomplete = scenarios[~scenarios["complete"]]
    report = {
        "cells": {"total": len(cells), "done": int(status.get(CellState.DONE, 0)),
                  "failed": int(status.get(CellState.FAILED, 0)),
                  "pending": int(status.get(CellState.PENDING, 0)),
                  "constant_predictions": constant},
        "scenarios": {"total": len(scenarios), "complete": int(scenarios["complete"].sum()),
                      "incomplete": len(incomplete)},
        "table": rows,
        "scenario_table": scenarios.assign(source=scenarios["source"].map(source_label)),
        "data": data_notes(out),
        "cell_sources": cells["source"].map(source_label),
        "cells_frame": cells,
    }
    analyse(report, out, cells, compare)
    labelled = scenarios.assign(source=scenarios["source"].map(source_label))
    report["breakdowns"] = {by: summarize(labelled, ["task", "source", by])
                            for by in ("freeze", "lr")}
    report["paper_table"] = paper_table(report)
    return report


def paper_table(report: dict[str, Any]) -> pd.DataFrame:
    """The paper's layout: one row per task, one "mean ± SD" column per source, then the first
    comparison's Wilcoxon p (with n pairs) for that task."""
    overall = report["table"][report["table"]["backbone"] == "all"]
    rows = []
    for task, group in overall.groupby("task"):
        row = {"task": task}
        for item in group.itertuples():
            row[item.source] = f"{_fmt(item.mean)} ± {_fmt(item.sd)}"
        comparisons = report["comparisons"]
        mine = comparisons[comparisons["task"] == task] if len(comparisons) else comparisons
        if len(mine):
            first = mine.iloc[0]
            row["comparison"] = f"{first['a']} vs {first['b']}"
            row["Wilcoxon p (n)"] = f"{_p(first['wilcoxon_p'])} ({first['n_pairs']})"
        rows.append(row)
    return pd.DataFrame(rows)


def to_latex(report: dict[str, Any]) -> str:
    """The paper-style table as a LaTeX tabular (booktabs)."""
    table = report["paper_table"]

    def escape(value: Any) -> str:
        text = str(value).replace("±", "$\\pm$").replace("<", "$<$")
        for char in ("_", "%", "&", "#"):
            text = text.replace(char, "\\" + char)
        return text

    columns = list(table.columns)
    lines = ["\\begin{tabular}{l" + "c" * (len(columns) - 1) + "}", "\\toprule",
             " & ".join(escape(c) for c in columns) + " \\\\", "\\midrule"]
    for row in table.itertuples(index=False):
        lines.append(" & ".join(escape("–" if pd.isna(v) else v) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3f}"


def _notes(report: dict[str, Any]) -> list[str]:
    cells, scen = report["cells"], report["scenarios"]
    notes = [f"cells: {cells['done']} done, {cells['failed']} failed, {cells['pending']} pending; "
             f"scenarios: {scen['complete']} complete of {scen['total']} (only complete scenarios "
             f"count; a scenario's AUC is the mean over its folds)"]
    if cells.get("constant_predictions"):
        notes.append(f"{cells['constant_predictions']} cell(s) gave every test case the same score "
                     f"to 6 decimals (their AUC is ties or noise): typical of untrained BatchNorm statistics, e.g. a "
                     f"scratch backbone after a few steps; see each cell's predictions.csv")
    for data in report["data"]:
        counts = ", ".join(f"{k} {v}" for k, v in data["counts"].items())
        line = f"{data['task']}: {counts} (split {data['split_id']})"
        if data.get("paper_counts"):
            line += "; paper: " + ", ".join(f"{k} {v}" for k, v in data["paper_counts"].items())
        notes.append(line)
        notes.extend(f"{data['task']}: {note}" for note in data.get("notes", []))
    return notes


def _p(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def comparison_rows(report: dict[str, Any], key: str = "comparisons") -> list[list[str]]:
    """task, A − B, n pairs, median difference [95 % CI], Wilcoxon p, Holm p, t p, r, note."""
    rows = []
    for c in report[key].itertuples() if len(report[key]) else []:
        median = "–" if c.median_difference is None or pd.isna(c.median_difference) else (
            f"{c.median_difference:+.3f} [{c.ci_low:+.3f}, {c.ci_high:+.3f}]")
        r = "–" if c.rank_biserial is None or pd.isna(c.rank_biserial) else f"{c.rank_biserial:+.2f}"
        rows.append([c.task, f"{c.a} − {c.b}", str(c.n_pairs), median, _p(c.wilcoxon_p),
                     _p(c.holm_p), _p(c.t_p), r, c.note])
    return rows


COMPARISON_HEADER = ["task", "A − B", "pairs", "median difference [95 % bootstrap CI]",
                     "Wilcoxon p (primary)", "Holm p", "paired t p", "rank-biserial r", "note"]


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["# radbench report", "",
             "Test AUC, mean ± SD over scenarios (n = number of scenarios).", "",
             "| task | source | backbone | n | AUC mean ± SD | min | max |",
             "|---|---|---|---|---|---|---|"]
    for row in report["table"].itertuples():
        lines.append(f"| {row.task} | {row.source} | {row.backbone} | {row.n} | "
                     f"{_fmt(row.mean)} ± {_fmt(row.sd)} | {_fmt(row.min)} | {_fmt(row.max)} |")
    paper = report["paper_table"]
    if len(paper):
        columns = list(paper.columns)
        lines += ["", "## Paper-style table", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        for row in paper.itertuples(index=False):
            lines.append("| " + " | ".join("–" if pd.isna(v) else str(v) for v in row) + " |")
    for by, frame in report["breakdowns"].items():
        lines += ["", f"## By {by}", "", f"| task | source | {by} | n | AUC mean ± SD |",
                  "|---|---|---|---|---|"]
        for row in frame.itertuples():
            lines.append(f"| {row.task} | {row.source} | {getattr(row, by)} | {row.n} | "
                         f"{_fmt(row.mean)} ± {_fmt(row.sd)} |")
    lines += ["", "## Per task and source", "",
              "| task | source | n | mean ± SD | median [IQR] | fold SD | seeds (SD) |",
              "|---|---|---|---|---|---|---|"]
    for row in report["summary"].itertuples() if len(report["summary"]) else []:
        seeds = f"{row.seeds}" + (f" ({_fmt(row.seed_sd)})" if row.seed_sd is not None
                                  and not pd.isna(row.seed_sd) else "")
        lines.append(f"| {row.task} | {row.source} | {row.n} | {_fmt(row.mean)} ± {_fmt(row.sd)} "
                     f"| {_fmt(row.median)} [{_fmt(row.q1)}, {_fmt(row.q3)}] | "
                     f"{_fmt(row.fold_sd)} | {seeds} |")
    lines += ["", "## Paired comparisons", "",
              "Scenarios are paired on everything but the source. Primary test: two-sided "
              "Wilcoxon signed-rank on the paired differences; Holm adjusts over every Wilcoxon "
              "p of this report; paired t-test secondary; effect size: matched-pairs "
              "rank-biserial correlation.", "",
              "| " + " | ".join(COMPARISON_HEADER) + " |", "|" + "---|" * len(COMPARISON_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in comparison_rows(report)]
    for entry in report["friedman"]:
        lines.append(f"\nFriedman test, {entry['task']} ({', '.join(entry['sources'])}; "
                     f"{entry['n_blocks']} matched scenarios): p = {_p(entry['p'])}")
    lines += _localization_markdown(report)
    lines += ["", "Per-cell AUC with stratified-bootstrap and DeLong 95 % CIs: "
              "report_cells.csv; DeLong's paired test of two sources' cells on the same test "
              "cases: report_cell_pairs.csv.", "", "## Notes", ""] + [f"- {note}" for note in _notes(report)]
    return "\n".join(lines) + "\n"


def _localization_markdown(report: dict[str, Any]) -> list[str]:
    table = report.get("localization")
    if table is None or table.empty:
        return []
    lines = ["", "## Lesion localization (Grad-CAM)", "",
             "Grad-CAM at the backbone's last convolutional block, binarised at 0.5 of each "
             "map's maximum, against the lesion masks of test images with a lesion; scenario "
             "means over folds, then mean ± SD over scenarios.", "",
             "| task | source | n | Dice | IoU | pointing game |", "|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.task} | {row.source} | {row.n} | {_fmt(row.dice_mean)} ± "
                     f"{_fmt(row.dice_sd)} | {_fmt(row.iou_mean)} ± {_fmt(row.iou_sd)} | "
                     f"{_fmt(row.pointing_mean)} ± {_fmt(row.pointing_sd)} |")
    rows = comparison_rows(report, "localization_comparisons")
    if rows:
        header = [h.replace("median difference", "median Dice difference") for h in COMPARISON_HEADER]
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _records(frame: pd.DataFrame) -> list:
    return json.loads(frame.to_json(orient="records")) if len(frame) else []


def to_json(report: dict[str, Any]) -> str:
    frames = ("table", "scenario_table", "summary", "comparisons", "cell_intervals",
              "paired_cells", "localization", "localization_comparisons")
    data = {k: v for k, v in report.items()
            if k not in frames + ("cell_sources", "cells_frame", "breakdowns", "paper_table")}
    for name in frames:
        data[name] = _records(report[name])
    data["paper_table"] = _records(report["paper_table"])
    data["breakdowns"] = {by: _records(frame) for by, frame in report["breakdowns"].items()}
    data["notes"] = _notes(report)
    return json.dumps(data, indent=2)


def write_report(out: Path, report: dict[str, Any],
                 formats: tuple[str, ...] = ("md", "csv", "json", "html")) -> list[Path]:
    """report.md, report.csv (+ report_comparisons.csv, report_cells.csv), report.json."""
    out, written = Path(out), []
    if "md" in formats:
        atomic_write_text(out / "report.md", to_markdown(report))
        written.append(out / "report.md")
    if "csv" in formats:
        atomic_write_csv(out / "report.csv", report["table"])
        atomic_write_csv(out / "report_comparisons.csv", report["comparisons"])
        atomic_write_csv(out / "report_cells.csv", report["cell_intervals"])
        atomic_write_csv(out / "report_cell_pairs.csv", report["paired_cells"])
        if not report["localization"].empty:
            atomic_write_csv(out / "report_localization.csv", report["localization"])
            written.append(out / "report_localization.csv")
        written += [out / "report.csv", out / "report_comparisons.csv", out / "report_cells.csv",
                    out / "report_cell_pairs.csv"]
    if "json" in formats:
        atomic_write_text(out / "report.json", to_json(report))
        written.append(out / "report.json")
    if "tex" in formats:
        atomic_write_text(out / "report.tex", to_latex(report))
        written.append(out / "report.tex")
    if "html" in formats:
        from radbench.report.html import write_html

        written.append(write_html(out, report, report["cells_frame"]))
    return written


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table(title="Test AUC: mean ± SD over scenarios")
    for column in ("task", "source", "backbone", "n", "AUC mean ± SD", "min", "max"):
        table.add_column(column, justify="right" if column not in ("task", "source", "backbone")
                         else "left")
    for row in report["table"].itertuples():
        style = "bold" if row.backbone == "all" else None
        table.add_row(row.task, row.source, row.backbone, str(row.n),
                      f"{_fmt(row.mean)} ± {_fmt(row.sd)}", _fmt(row.min), _fmt(row.max),
                      style=style)
    console.print(table)
    rows = comparison_rows(report)
    if rows:
        paired = Table(title="Paired comparisons (Wilcoxon signed-rank primary, Holm-adjusted)")
        for column in COMPARISON_HEADER:
            paired.add_column(column)
        for row in rows:
            paired.add_row(*row)
        console.print(paired)
    localization = report.get("localization")
    if localization is not None and not localization.empty:
        cam = Table(title="Lesion localization (Grad-CAM, mean ± SD over scenarios)")
        for column in ("task", "source", "n", "Dice", "IoU", "pointing"):
            cam.add_column(column)
        for row in localization.itertuples():
            cam.add_row(row.task, row.source, str(row.n), f"{_fmt(row.dice_mean)} ± "
                        f"{_fmt(row.dice_sd)}", f"{_fmt(row.iou_mean)} ± {_fmt(row.iou_sd)}",
                        f"{_fmt(row.pointing_mean)} ± {_fmt(row.pointing_sd)}")
        console.print(cam)
    for entry in report["friedman"]:
        console.print(f"Friedman, {entry['task']}: {entry['n_blocks']} matched scenarios, "
                      f"p = {_p(entry['p'])}", highlight=False)
    for note in _notes(report):
        console.print(f"note: {note}", highlight=False)
