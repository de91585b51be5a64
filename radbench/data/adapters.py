"""Release-layout adapters: each turns a dataset folder into raw records.

A raw record is (path, raw_label, group or None, mask paths). The manifest module maps raw
labels to the task's classes, so every adapter is configurable the same way.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from radbench.config.schema import DataSpec
from radbench.data.images import IMAGE_SUFFIXES
from radbench.errors import DataError

MASK_PATTERN = re.compile(r"^(?P<stem>.+)_mask(?:_\d+)?$")


@dataclass
class RawRecord:
    path: Path
    raw_label: str
    group: str | None = None
    masks: list[Path] = field(default_factory=list)
    missing: str | None = None  # where a listed image was named, when its file does not exist


def _is_visible(path: Path, root: Path, exclude: list[str]) -> bool:
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") or p in exclude or p == "__MACOSX" for p in parts)


def _images_with_masks(files: list[Path]) -> list[tuple[Path, list[Path]]]:
    """Split files into images and their `<stem>_mask[_N].<ext>` masks (BUSI's convention)."""
    masks: dict[tuple[Path, str], list[Path]] = {}
    images: list[Path] = []
    for path in files:
        match = MASK_PATTERN.match(path.stem)
        if match:
            masks.setdefault((path.parent, match["stem"]), []).append(path)
        else:
            images.append(path)
    return [(image, sorted(masks.get((image.parent, image.stem), []))) for image in images]


def _image_files(root: Path, exclude: list[str]) -> list[Path]:
    return sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and _is_visible(p, root, exclude)
    )


def _group_from_name(path: Path, pattern: str | None) -> str | None:
    if pattern is None:
        return None
    match = re.search(pattern, path.name)
    if not match:
        raise DataError(
            f"{path}: file name does not match data.group_pattern {pattern!r} "
            f"(expected the patient id in its first group)"
        )
    return match.group(1)


def read_folders(root: Path, spec: DataSpec) -> list[RawRecord]:
    """Class-folder layout: the class is the name of the folder holding the file, at any depth
    (or of the folder at depth `class_level`); the group comes from `group_level` or the name."""
    records = []
    for image, masks in _images_with_masks(_image_files(root, spec.exclude_dirs)):
        folders = image.relative_to(root).parts[:-1]
        level = spec.class_level
        if not folders or (level is not None and level >= len(folders)):
            raise DataError(
                f"{image}: not inside a class folder"
                + (f" at depth {level}" if level is not None else "")
                + f" below {root}"
            )
        raw_label = folders[-1] if level is None else folders[level]
        if spec.group_level is not None:
            if spec.group_level >= len(folders):
                raise DataError(f"{image}: no folder at depth {spec.group_level} for its group")
            group = "/".join(folders[: spec.group_level + 1])
        else:
            group = _group_from_name(image, spec.group_pattern)
        records.append(RawRecord(image, raw_label, group, masks))
    return records


def read_busi(root: Path, spec: DataSpec) -> list[RawRecord]:
    """BUSI as released: `Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (N).png`."""
    nested = root / "Dataset_BUSI_with_GT"
    if nested.is_dir():
        root = nested
    expected = ("benign", "malignant", "normal")
    missing = [name for name in expected if not (root / name).is_dir()]
    if missing:
        raise DataError(
            f"{root}: not a BUSI release folder; missing class folder(s) {', '.join(missing)} "
            f"(expected Dataset_BUSI_with_GT/{{benign,malignant,normal}})"
        )
    records = []
    for name in expected:
        for image, masks in _images_with_masks(_image_files(root / name, spec.exclude_dirs)):
            records.append(RawRecord(image, name, _group_from_name(image, spec.group_pattern), masks))
    return records


def read_ddti_crops(root: Path, spec: DataSpec) -> list[RawRecord]:
    """DDTI nodule crops: `cropped/<name>.png`, `mask/<name>.gif`, `diagnosis.csv` (name, tirads)."""
    table = root / "diagnosis.csv"
    if not table.is_file():
        raise DataError(f"{root}: no diagnosis.csv; expected the DDTI crops layout "
                        f"(cropped/, mask/, diagnosis.csv)")
    pattern = spec.group_pattern or r"^(\d+)_"
    records = []
    with table.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2:
                raise DataError(f"{table} row {number}: expected 'name,tirads[,binary]', got {row}")
            name, tirads = row[0].strip(), row[1].strip()
            image = root / "cropped" / f"{name}.png"
            if not image.is_file():
                if spec.missing_files == "error":
                    raise DataError(f"{table} row {number}: image {image} not found "
                                    f"(data.missing_files: drop leaves such rows out)")
                records.append(RawRecord(image, tirads, None, [], f"{table.name} row {number}"))
                continue
            mask = root / "mask" / f"{name}.gif"
            records.append(RawRecord(image, tirads, _group_from_name(image, pattern),
                                     [mask] if mask.is_file() else []))
    return records


def _inside(root: Path, relative: str, where: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataError(f"{where}: path {relative!r} leaves the dataset root {root}")
    return path


def read_csv_manifest(root: Path, spec: DataSpec) -> list[RawRecord]:
    """A CSV with one row per image: path (relative to root), label, optional group and mask."""
    table = root / (spec.csv or "manifest.csv")
    if not table.is_file():
        raise DataError(f"{table}: manifest CSV not found (set data.csv, relative to the data root)")
    columns = spec.columns
    records = []
    with table.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        needed = [c for c in (columns.path, columns.label, columns.group, columns.mask) if c]
        absent = [c for c in needed if c not in header]
        if absent:
            raise DataError(f"{table}: missing column(s) {', '.join(absent)}; header is {header}")
        for number, row in enumerate(reader, start=2):
            where = f"{table} row {number}"
            path = _inside(root, row[columns.path], where)
            if not path.is_file():
                if spec.missing_files == "error":
                    raise DataError(f"{where}: image {row[columns.path]!r} not found under {root}")
                records.append(RawRecord(path, row[columns.label].strip(), None, [],
                                         f"{table.name} row {number}"))
                continue
            group = row[columns.group].strip() if columns.group else None
            masks = []
            if columns.mask and row[columns.mask].strip():
                masks = [_inside(root, m, where) for m in row[columns.mask].split(";")]
                for mask in masks:
                    if not mask.is_file():
                        raise DataError(f"{where}: mask {mask} not found")
            records.append(RawRecord(path, row[columns.label].strip(),
                                     group or _group_from_name(path, spec.group_pattern), masks))
    return records


def _not_yet(name: str, layout: str) -> Callable[[Path, DataSpec], list[RawRecord]]:
    def read(root: Path, spec: DataSpec) -> list[RawRecord]:
        raise DataError(
            f"{root}: the {name} adapter ({layout}) is not implemented yet; meanwhile list the "
            f"images in a CSV (path,label,group) and use a task with data.adapter: csv"
        )

    return read


ADAPTERS: dict[str, Callable[[Path, DataSpec], list[RawRecord]]] = {
    "mrnet": _not_yet("mrnet", "MRNet .npy volumes"),
    "rsna_pneumonia": _not_yet("rsna_pneumonia", "RSNA Pneumonia DICOM + labels CSV"),
    "rsna_ich": _not_yet("rsna_ich", "RSNA Intracranial Hemorrhage DICOM + labels CSV"),
    "busi": read_busi,
    "ddti_crops": read_ddti_crops,
    "csv": read_csv_manifest,
    "folders": read_folders,
}
