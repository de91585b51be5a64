"""What every release adapter returns: one raw record per image."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from radbench.data.images import IMAGE_SUFFIXES, SEPARATOR, split_locator
from radbench.errors import DataError


@dataclass
class RawRecord:
    """One image: its locator (a path, or `FILE::FRAGMENT`), raw label, group, masks, and the
    release's own part (train/val/test) when it has one."""

    path: Path | str
    raw_label: str
    group: str | None = None
    masks: list = field(default_factory=list)
    missing: str | None = None  # where a listed image was named, when its file does not exist
    part: str | None = None


def locator(path: Path, fragment: str | int | None = None) -> str:
    return str(path) if fragment is None else f"{path}{SEPARATOR}{fragment}"


def relative_locator(value: Path | str, root: Path) -> str:
    """The locator relative to the dataset root (its file part), '/'-separated."""
    path, fragment = split_locator(value)
    text = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    return text if fragment is None else f"{text}{SEPARATOR}{fragment}"


def is_visible(path: Path, root: Path, exclude: list[str]) -> bool:
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") or p in exclude or p == "__MACOSX" for p in parts)


def image_files(root: Path, exclude: list[str], suffixes: set[str] = IMAGE_SUFFIXES) -> list[Path]:
    return sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in suffixes and p.is_file() and is_visible(p, root, exclude)
    )


def group_from_name(path: Path, pattern: str | None) -> str | None:
    if pattern is None:
        return None
    match = re.search(pattern, path.name)
    if not match:
        raise DataError(
            f"{path}: file name does not match data.group_pattern {pattern!r} "
            f"(expected the patient id in its first group)"
        )
    return match.group(1)


def inside(root: Path, relative: str, where: str) -> Path:
    """`root/relative`, refusing a path that leaves the dataset root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataError(f"{where}: path {relative!r} leaves the dataset root {root}")
    return root / relative


def csv_rows(table: Path, needed: tuple[str, ...]):
    """(row number, row) of a CSV with a header, stripped names; missing columns are an error."""
    with table.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        absent = [c for c in needed if c not in header]
        if absent:
            raise DataError(f"{table}: missing column(s) {', '.join(absent)}; header is {header}")
        for number, row in enumerate(reader, start=2):
            yield number, row
