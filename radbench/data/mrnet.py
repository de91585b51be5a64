"""MRNet knee MRI as released: `{train,valid}/{axial,coronal,sagittal}/NNNN.npy` volumes of shape
(slices, 256, 256) uint8 and label files `{train,valid}-{acl,meniscus,abnormal}.csv` (no header:
exam id, 0/1).

Key slices: the study used "key sagittal slices" without saying which. radbench takes the
`data.slices` central slices of each exam's sagittal series (3 by default: the cruciate ligaments
and the menisci lie near the middle of a sagittal knee series), every slice of an exam in one group.
"""

from __future__ import annotations

import csv
from pathlib import Path

from radbench.config.schema import DataSpec
from radbench.data.arrays import volume_shape
from radbench.data.records import RawRecord, locator
from radbench.errors import DataError

TARGETS = ("acl", "meniscus", "abnormal")
RELEASE_PARTS = ("train", "valid")


def central_slices(n_slices: int, count: int) -> list[int]:
    """The `count` slices around the middle of a series of `n_slices` (all if fewer)."""
    count = min(count, n_slices)
    start = max(0, min(n_slices - count, n_slices // 2 - count // 2))
    return list(range(start, start + count))


def read_mrnet(root: Path, spec: DataSpec) -> list[RawRecord]:
    if spec.target not in TARGETS:
        raise DataError(f"{root}: the mrnet adapter needs data.target, one of {', '.join(TARGETS)} "
                        f"(got {spec.target!r})")
    tables = [root / f"{part}-{spec.target}.csv" for part in RELEASE_PARTS]
    if not any(t.is_file() for t in tables):
        raise DataError(f"{root}: no {tables[0].name} or {tables[1].name}; expected the MRNet "
                        f"release (train/, valid/, train-{spec.target}.csv, ...)")
    records = []
    for part, table in zip(RELEASE_PARTS, tables):
        if not table.is_file():
            continue
        with table.open(newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if not row:
                    continue
                if len(row) != 2 or not row[0].strip().isdigit():
                    raise DataError(f"{table} row {number}: expected 'exam id,0|1', got {row}")
                exam, label = row[0].strip().zfill(4), row[1].strip()
                volume = root / part / "sagittal" / f"{exam}.npy"
                if not volume.is_file():
                    records.append(RawRecord(volume, label, None, [], f"{table.name} row {number}"))
                    continue
                shape = volume_shape(volume)
                if len(shape) != 3:
                    raise DataError(f"{volume}: expected a (slices, H, W) volume, got {shape}")
                for index in central_slices(shape[0], spec.slices):
                    records.append(RawRecord(locator(volume, index), label, f"{part}-{exam}"))
    return records
