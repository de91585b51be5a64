"""The two RSNA Kaggle challenges, DICOM images with a labels CSV.

Pneumonia 2018: `stage_2_train_labels.csv` (patientId, x, y, width, height, Target; one row per
box) and `stage_2_train_images/<patientId>.dcm`; an image is positive when any of its rows has
Target 1; group = patientId.
Intracranial hemorrhage 2019: `stage_2_train.csv` (ID = `ID_<image>_<subtype>`, Label) and
`stage_2_train/ID_<image>.dcm`; label = the `data.target` subtype (default `any`); group = the
PatientID in each DICOM header.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from radbench.config.schema import DataSpec
from radbench.data.dicom import read_header
from radbench.data.records import RawRecord, csv_rows
from radbench.errors import DataError

ICH_SUBTYPES = ("any", "epidural", "intraparenchymal", "intraventricular", "subarachnoid",
                "subdural")


def _first(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (root / name).exists():
            return root / name
    raise DataError(f"{root}: no {' or '.join(names)}; expected {what}")


def read_rsna_pneumonia(root: Path, spec: DataSpec) -> list[RawRecord]:
    layout = "the RSNA Pneumonia release (stage_2_train_labels.csv, stage_2_train_images/)"
    table = _first(root, ("stage_2_train_labels.csv", "stage_1_train_labels.csv"), layout)
    images = _first(root, ("stage_2_train_images", "stage_1_train_images"), layout)
    labels: dict[str, str] = {}
    where: dict[str, int] = {}
    for number, row in csv_rows(table, ("patientId", "Target")):
        target = row["Target"].strip()
        if target not in ("0", "1"):
            raise DataError(f"{table} row {number}: Target {target!r}, expected 0 or 1")
        pid = row["patientId"].strip()
        labels[pid] = max(labels.get(pid, "0"), target)
        where.setdefault(pid, number)
    records = []
    for pid, label in labels.items():
        path = images / f"{pid}.dcm"
        missing = None if path.is_file() else f"{table.name} row {where[pid]}"
        records.append(RawRecord(path, label, None if missing else pid, [], missing))
    return records


def read_rsna_ich(root: Path, spec: DataSpec) -> list[RawRecord]:
    layout = "the RSNA Intracranial Hemorrhage release (stage_2_train.csv, stage_2_train/)"
    table = _first(root, ("stage_2_train.csv", "stage_1_train.csv"), layout)
    images = _first(root, ("stage_2_train", "stage_1_train", "stage_2_train_images",
                           "stage_1_train_images"), layout)
    target = spec.target or "any"
    if target not in ICH_SUBTYPES:
        raise DataError(f"data.target {target!r}: expected one of {', '.join(ICH_SUBTYPES)}")
    labels: dict[str, tuple[str, int]] = {}
    for number, row in csv_rows(table, ("ID", "Label")):
        image, _, subtype = row["ID"].strip().rpartition("_")
        if not image.startswith("ID_") or subtype not in ICH_SUBTYPES:
            raise DataError(f"{table} row {number}: ID {row['ID']!r}, expected "
                            f"ID_<image>_<subtype> with a subtype of {', '.join(ICH_SUBTYPES)}")
        if subtype == target:
            label = row["Label"].strip()
            if label not in ("0", "1"):
                raise DataError(f"{table} row {number}: Label {label!r}, expected 0 or 1")
            labels.setdefault(image, (label, number))  # the release repeats a few rows

    def patient(path: Path) -> str:
        header = read_header(path)
        value = str(header.get("PatientID", "")).strip()
        if not value:
            raise DataError(f"{path}: DICOM header has no PatientID (needed for the group)")
        return value

    paths = {image: images / f"{image}.dcm" for image in labels}
    present = [image for image, path in paths.items() if path.is_file()]
    with ThreadPoolExecutor(max_workers=8) as pool:
        patients = dict(zip(present, pool.map(lambda i: patient(paths[i]), present)))
    records = []
    for image, (label, number) in labels.items():
        if image in patients:
            records.append(RawRecord(paths[image], label, patients[image]))
        else:
            records.append(RawRecord(paths[image], label, None, [], f"{table.name} row {number}"))
    return records
