"""Writers of a `Report`: markdown, csv, json, LaTeX, HTML (radbench.report.html) and the
terminal. Each renders every section of the report the same way, so a section added in
`build_report` appears in every format without a change here."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console

from radbench.errors import ConfigError
from radbench.report.build import Report, Section
from radbench.report.html import write_html
from radbench.report.provenance import provenance_lines
from radbench.report.shown import empty_reason
from radbench.terminal import fitted_table
from radbench.atomic import atomic_write_csv, atomic_write_text

FORMATS = ("md", "csv", "json", "tex", "html")


def parse_formats(value: str) -> tuple[str, ...]:
    """`--format md,csv,...`: the formats named, each one of FORMATS (else a ConfigError)."""
    chosen = tuple(f.strip() for f in value.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise ConfigError(f"--format {value!r}: unknown {unknown[0]!r}; expected "
                          f"{', '.join(FORMATS)}")
    return chosen


def _markdown_table(frame: pd.DataFrame, key: str = "") -> list[str]:
    if frame.empty:
        return [f"*Empty: {empty_reason(key)}.*"]
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return lines


def to_markdown(report: Report) -> str:
    lines = ["# radbench report", "", "## Provenance", ""]
    lines += [f"- {label}: {text}" for label, text in provenance_lines(report.provenance)]
    for section in report.sections.values():
        lines += ["", f"## {section.title}", ""]
        if section.note:
            lines += [section.note, ""]
        lines += _markdown_table(section.text(), section.key)
    lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def _records(frame: pd.DataFrame) -> list:
    return json.loads(frame.to_json(orient="records")) if len(frame) else []


def to_json(report: Report) -> str:
    data = {"cells": report.cells, "scenarios": report.scenarios, "data": report.data,
            "notes": report.notes, "metric": report.metric, "provenance": report.provenance}
    data.update({key: _records(section.frame) for key, section in report.sections.items()})
    return json.dumps(data, indent=2)


def _latex_escape(value) -> str:
    text = str(value).replace("±", "$\\pm$").replace("<", "$<$").replace("−", "$-$")
    for char in ("_", "%", "&", "#"):
        text = text.replace(char, "\\" + char)
    return text


def _latex_table(section: Section) -> list[str]:
    frame = section.text()
    lines = [f"% {section.title}" + (f": {section.note}" if section.note else "")]
    if frame.empty:
        return lines + ["% (empty)"]
    lines += ["\\begin{tabular}{l" + "c" * (len(frame.columns) - 1) + "}", "\\toprule",
              " & ".join(_latex_escape(c) for c in frame.columns) + " \\\\", "\\midrule"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(_latex_escape("–" if pd.isna(v) else v) for v in row) + " \\\\")
    return lines + ["\\bottomrule", "\\end{tabular}"]


def to_latex(report: Report) -> str:
    """Every section as a booktabs tabular (the paper-style table second), each headed by a
    comment with its title; \\usepackage{booktabs} in the document."""
    parts = ["\n".join(_latex_table(section)) for section in report.sections.values()]
    return "\n\n".join(parts) + "\n"


def write_report(out: Path, report: Report, formats: tuple[str, ...] = ("md", "csv", "json",
                                                                       "html")) -> list[Path]:
    """report.md, one csv per section (report.csv: the headline), report.json, report.tex,
    report.html in the run directory; returns the files written."""
    out, written = Path(out), []
    if "md" in formats:
        atomic_write_text(out / "report.md", to_markdown(report))
        written.append(out / "report.md")
    if "csv" in formats:
        for section in report.sections.values():
            if len(section.frame) or section.key == "table":
                atomic_write_csv(out / section.csv, section.frame)
                written.append(out / section.csv)
    if "json" in formats:
        atomic_write_text(out / "report.json", to_json(report))
        written.append(out / "report.json")
    if "tex" in formats:
        atomic_write_text(out / "report.tex", to_latex(report))
        written.append(out / "report.tex")
    if "html" in formats:
        written.append(write_html(out, report))
    return written


def print_report(report: Report, console: Console) -> None:
    """The sections marked for the terminal, then where the rest are, then the notes."""
    for section in report.sections.values():
        frame = section.text()
        if not section.terminal or frame.empty:
            continue
        table, left_out = fitted_table(section.title, frame, console.width)
        console.print(table, soft_wrap=False)  # the table fits the width, long lines or not
        if left_out:
            console.print(f"({console.width} columns: {', '.join(left_out)} left out here; "
                          f"all in report.md)", highlight=False, soft_wrap=False)
    others = [s.title.lower() for s in report.sections.values()
              if not s.terminal and len(s.frame)]
    if others:
        console.print(f"note: also in report.md/html/json: {'; '.join(others)}",
                      highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
