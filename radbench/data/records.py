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


# folder names and CSV values that name a release's part (split scheme given)
PART_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
              "validation": "val", "test": "test", "testing": "test"}


def part_name(value: str) -> str | None:
    """train, val or test for a folder name or CSV value that names a part, else None."""
    return PART_NAMES.get(value.strip().lower())


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


class GroupPatternMiss(DataError):
    """A file name that data.group_pattern does not match (`pattern_misses` counts them all)."""

    def __init__(self, path: Path, pattern: str):
        super().__init__(f"{path}: file name does not match data.group_pattern {pattern!r} "
                         f"(expected the patient id in its first group)")
        self.path, self.pattern = path, pattern


def group_from_name(path: Path, pattern: str | None) -> str | None:
    if pattern is None:
        return None
    match = re.search(pattern, path.name)
    if not match:
        raise GroupPatternMiss(path, pattern)
    return match.group(1)


def pattern_misses(root: Path, pattern: str, exclude: list[str], suffixes: set[str]) -> str:
    """One line for a group pattern that misses file names: how many of the image files below
    `root` it misses, a few of them, and the groups it makes of the others."""
    names = [p for p in image_files(root, exclude, suffixes)
             if not re.match(r"^.+_mask(?:_\d+)?$", p.stem)]
    misses = [p for p in names if not re.search(pattern, p.name)]
    groups: dict[str, int] = {}
    for path in names:
        match = re.search(pattern, path.name)
        if match:
            groups[match.group(1)] = groups.get(match.group(1), 0) + 1
    largest = sorted(groups.items(), key=lambda item: (-item[1], item[0]))[:3]
    made = (f"; of the others it makes {len(groups)} group(s), e.g. "
            + ", ".join(f"{g!r} ({n} images)" for g, n in largest)) if groups else ""
    shown = ", ".join(p.relative_to(root).as_posix() for p in misses[:3])
    return (f"{root}: data.group_pattern {pattern!r} matches no patient id in {len(misses)} of "
            f"{len(names)} file name(s), e.g. {shown}{made}; expected group 1 to capture the "
            f"patient id of every file name")


def inside(root: Path, relative: str, where: str) -> Path:
    """`root/relative`, refusing a path that leaves the dataset root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataError(f"{where}: path {relative!r} leaves the dataset root {root}")
    return root / relative


def csv_rows(table: Path, needed: tuple[str, ...]):
    """(row number, row) of a CSV with a header, stripped names; missing columns are an error."""
    with table.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        absent = [c for c in needed if c not in header]
        if absent:
            raise DataError(f"{table}: missing column(s) {', '.join(absent)}; header is {header}")
        for number, row in enumerate(reader, start=2):
            yield number, row
