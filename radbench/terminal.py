"""Tables and labels that fit the terminal they are printed on (80 columns included): no header
word split, `file:` sources by their file's stem, optional columns left out (and said) when the
rest would not fit. The files a command writes keep every column and the full labels."""

from __future__ import annotations

import re

import pandas as pd
from rich.table import Table

# Columns a narrow terminal leaves out first, in this order (every one is in report.md/html/json);
# the others (what a row is, its headline number, its flags and notes) always stay.
TERMINAL_OPTIONAL = ("max", "min", "rank-biserial r", "paired t p",
                     "median difference [95 % bootstrap CI]", "Holm p", "pairs")
_FILE_SOURCE = re.compile(r"file:(?:[^\s]*/)?([^\s/]+?)(?:\.weights\.h5|\.h5|\.keras)?(?=\s|$)")


def short_sources(text: str) -> str:
    """`file:` source labels as their file's stem (`file:phantom-X.weights.h5` → `phantom-X`):
    the terminal's form; the files keep the full label."""
    return _FILE_SOURCE.sub(lambda m: m.group(1), text)


def _need(text: str, cap: int = 16) -> int:
    """The width a cell or header needs so that no word is split: the whole text when short,
    else its longest word."""
    words = text.split()
    return len(text) if len(text) <= cap else max((len(w) for w in words), default=1)


def fitted_table(title: str, frame: pd.DataFrame, width: int) -> tuple[Table, list[str]]:
    """A rich table of `frame` that fits `width` columns of terminal with no header word split:
    each column at least as wide as its longest header word (and its short values); when that
    does not fit, the columns of TERMINAL_OPTIONAL are left out in turn. Returns the table and
    the columns left out."""
    rows = [[short_sources(str(v)) for v in row] for row in frame.itertuples(index=False)]
    columns = [str(c) for c in frame.columns]
    needs = {c: max([max((len(w) for w in c.split()), default=1)] +
                    [min(_need(r[i]), 16) for r in rows]) for i, c in enumerate(columns)}
    floors = {c: max((len(w) for w in c.split()), default=1) for c in columns}
    keep = list(columns)

    def total() -> int:  # the columns, one space of padding each side, the borders
        return sum(needs[c] for c in keep) + 3 * len(keep) + 1

    for optional in TERMINAL_OPTIONAL:
        if total() <= width:
            break
        if optional in keep:
            keep.remove(optional)
    while total() > width:  # still too wide: values fold further, header words stay whole
        widest = max(keep, key=lambda c: needs[c] - floors[c])
        if needs[widest] <= floors[widest]:
            break
        needs[widest] -= 1
    # the room left goes to the columns that would wrap most (rich's own sharing, given
    # minimum widths, can overshoot the width by a character or two)
    full = {c: max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)}
    spare = width - total()
    while spare > 0 and any(full[c] > needs[c] for c in keep):
        roomiest = max(keep, key=lambda c: full[c] - needs[c])
        needs[roomiest] += 1
        spare -= 1
    table = Table(title=title)
    for column in keep:
        table.add_column(column, overflow="fold", width=needs[column])
    for row in rows:
        table.add_row(*(value for value, column in zip(row, columns) if column in keep))
    return table, [c for c in columns if c not in keep]
