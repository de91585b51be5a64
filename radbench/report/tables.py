"""The paper's table: per task × source, mean ± SD over scenarios of the scenario AUC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from radbench.report.collect import collect_cells, data_notes, scenario_table, source_label
from radbench.store import DONE, FAILED, PENDING, atomic_write_csv, atomic_write_text


def summarize(scenarios: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """n, mean, SD (n - 1), min and max of complete scenarios' AUC per `by` group."""
    complete = scenarios[scenarios["complete"]]
    table = complete.groupby(by, dropna=False)["auc"].agg(
        n="count", mean="mean", sd="std", min="min", max="max").reset_index()
    return table


def build_report(out: Path) -> dict[str, Any]:
    """Everything `radbench report` shows, as plain data."""
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
    return {
        "cells": {"total": len(cells), "done": int(status.get(DONE, 0)),
                  "failed": int(status.get(FAILED, 0)), "pending": int(status.get(PENDING, 0)),
                  "constant_predictions": constant},
        "scenarios": {"total": len(scenarios), "complete": int(scenarios["complete"].sum()),
                      "incomplete": len(incomplete)},
        "table": rows,
        "scenario_table": scenarios.assign(source=scenarios["source"].map(source_label)),
        "data": data_notes(out),
    }


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


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["# radbench report", "",
             "Test AUC, mean ± SD over scenarios (n = number of scenarios).", "",
             "| task | source | backbone | n | AUC mean ± SD | min | max |",
             "|---|---|---|---|---|---|---|"]
    for row in report["table"].itertuples():
        lines.append(f"| {row.task} | {row.source} | {row.backbone} | {row.n} | "
                     f"{_fmt(row.mean)} ± {_fmt(row.sd)} | {_fmt(row.min)} | {_fmt(row.max)} |")
    lines += ["", "## Notes", ""] + [f"- {note}" for note in _notes(report)]
    return "\n".join(lines) + "\n"


def to_json(report: dict[str, Any]) -> str:
    data = {k: v for k, v in report.items() if k not in ("table", "scenario_table")}
    data["table"] = json.loads(report["table"].to_json(orient="records"))
    data["scenario_table"] = json.loads(report["scenario_table"].to_json(orient="records"))
    data["notes"] = _notes(report)
    return json.dumps(data, indent=2)


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
    for note in _notes(report):
        console.print(f"note: {note}", highlight=False)


def write_report(out: Path, report: dict[str, Any]) -> list[Path]:
    """report.md and report.csv in the run directory."""
    md, csv = Path(out) / "report.md", Path(out) / "report.csv"
    atomic_write_text(md, to_markdown(report))
    atomic_write_csv(csv, report["table"])
    return [md, csv]
