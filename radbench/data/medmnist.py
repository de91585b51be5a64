"""MedMNIST `.npz` files (any size variant) with their official split, and the small Kaggle
head CT hemorrhage set (`images/NNN.png`, `labels.csv` with `id, hemorrhage`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radbench.config.schema import DataSpec
from radbench.data.arrays import MEDMNIST_PARTS, image_parts, medmnist_arrays, npz_arrays
from radbench.data.records import RawRecord, csv_rows, locator
from radbench.errors import DataError


def medmnist_file(root: Path, spec: DataSpec) -> Path:
    if spec.target:
        path = root / spec.target
        if not path.is_file():
            raise DataError(f"{path}: MedMNIST file not found (data.target names it; "
                            f"`radbench data fetch` downloads it)")
        return path
    files = sorted(root.glob("*.npz"))
    if len(files) != 1:
        raise DataError(f"{root}: {len(files)} .npz files; set data.target to the MedMNIST file "
                        f"name (e.g. breastmnist.npz)")
    return files[0]


def read_medmnist(root: Path, spec: DataSpec) -> list[RawRecord]:
    path = medmnist_file(root, spec)
    arrays = medmnist_arrays(path)
    records = []
    for part in MEDMNIST_PARTS:
        labels = np.asarray(arrays[f"{part}_labels"]).reshape(len(arrays[f"{part}_labels"]), -1)
        if labels.shape[1] != 1:
            raise DataError(f"{path}: {part}_labels has {labels.shape[1]} columns; radbench "
                            f"tasks take one label per image")
        for index, value in enumerate(labels[:, 0]):
            records.append(RawRecord(locator(path, f"{part}/{index}"), str(int(value)),
                                     part=part))
    return records


def read_npz(root: Path, spec: DataSpec) -> list[RawRecord]:
    """Any `.npz` with `{train,val,test}_images` and `_labels` (some parts may be absent, e.g.
    the CIFAR-10 subset); labels are named by a `classes` array when the file has one."""
    path = medmnist_file(root, spec)
    arrays = npz_arrays(path)
    names = arrays.get("classes")
    records = []
    for part in image_parts(path, arrays):
        labels = np.asarray(arrays[f"{part}_labels"]).reshape(len(arrays[f"{part}_labels"]), -1)
        for index, value in enumerate(labels[:, 0]):
            label = str(names[int(value)]) if names is not None and names.dtype.kind == "U" \
                else str(int(value))
            records.append(RawRecord(locator(path, f"{part}/{index}"), label, part=part))
    return records


def read_head_ct(root: Path, spec: DataSpec) -> list[RawRecord]:
    table = root / "labels.csv"
    if not table.is_file():
        raise DataError(f"{root}: no labels.csv; expected the head CT layout (images/NNN.png, "
                        f"labels.csv with columns id, hemorrhage)")
    records = []
    for number, row in csv_rows(table, ("id", "hemorrhage")):
        ident = row["id"].strip()
        if not ident.isdigit():
            raise DataError(f"{table} row {number}: id {ident!r}, expected a number")
        path = root / "images" / f"{int(ident):03d}.png"
        missing = None if path.is_file() else f"{table.name} row {number}"
        records.append(RawRecord(path, row["hemorrhage"].strip(), None, [], missing))
    return records
