"""Tables that fit 80 columns: no header word split, `file:` sources by their stem, optional
columns left out (and said) only when the rest would not fit (issue 28)."""

from __future__ import annotations

import io
import json
import os
import re

import pandas as pd
from rich.console import Console

from radbench.terminal import TERMINAL_OPTIONAL, fitted_table, short_sources
from tests.conftest import REPO

BOX_ROW = re.compile(r"^[┃│]")


def split_header_words(text: str, headers: list[str]) -> list[str]:
    """The words of the boxed tables' header rows in `text` that are not whole words of the
    column names `headers` (a word cut in two by wrapping shows up here)."""
    words = {w for h in headers for w in h.split()}
    bad, in_header = [], False
    for line in text.splitlines():
        if line.startswith("┏"):
            in_header = True
        elif line.startswith("┡"):
            in_header = False
        elif in_header and BOX_ROW.match(line):
            for cell in line.strip("┃│").split("┃"):
                bad += [w for w in cell.split() if w not in words]
    return bad


def rendered(frame: pd.DataFrame, width: int = 80) -> tuple[str, list[str]]:
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    table, left_out = fitted_table("t", frame, width)
    console.print(table)
    return console.file.getvalue(), left_out


COMPARISON = pd.DataFrame([{
    "task": "demo", "A − B": "file:/data/w/phantom-MobileNetV3Small.weights.h5 − scratch",
    "pairs": "6", "mean gain (AUC points) [95 % CI]": "+11.9 [+5.0, +18.5]",
    "median difference [95 % bootstrap CI]": "+0.131 [+0.022, +0.204]",
    "Wilcoxon p (primary)": "0.062", "Holm p": "0.062", "paired t p": "0.026",
    "rank-biserial r": "+0.90", "note": "underpowered: 6 pairs"}])


def test_a_wide_table_fits_80_columns_with_whole_header_words():
    text, left_out = rendered(COMPARISON)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert split_header_words(text, list(COMPARISON.columns)) == []
    # only optional columns went; what a row is, its headline numbers and its note stayed
    assert left_out and set(left_out) <= set(TERMINAL_OPTIONAL)
    assert {"task", "A − B", "mean gain (AUC points) [95 % CI]", "Wilcoxon p (primary)",
            "note"}.isdisjoint(left_out)
    assert "underpowered" in text and "phantom-MobileNe" in text  # the source by its stem
    assert "file:" not in text and ".weights.h5" not in text
    wide, none_left = rendered(COMPARISON, width=200)
    assert none_left == [] and split_header_words(wide, list(COMPARISON.columns)) == []


def test_file_sources_are_shown_by_their_stem():
    assert short_sources("demo file:/a/b/phantom-X.weights.h5 MobileNetV3Small") == \
        "demo phantom-X MobileNetV3Small"
    assert short_sources("file:w.h5 − file:v.keras") == "w − v"
    assert short_sources("scratch") == "scratch"


def test_weights_status_fits_80_columns(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "80", "RADBENCH_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "radbench.cli", "weights", "status"], env=env,
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    assert split_header_words(done.stdout, ["source", "backbone", "state", "file", "hash"]) == []
    full = subprocess.run([sys.executable, "-m", "radbench.cli", "weights", "status", "--json"],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert all(len(r["hash"].split()[-1]) in (32, 64) for r in json.loads(full.stdout)
               if r["hash"])  # the files and --json keep whole hashes
