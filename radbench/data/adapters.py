"""The adapter registry: each adapter turns a dataset folder of one layout into raw records.

An entry carries its reader, the layouts it accepts and the `radbench data fetch` name of the
release it reads, if any. The generic layouts (class folders, a CSV list, BUSI) live here; each
public release with its own layout has a module (ddti, mrnet, rsna, medmnist). Adding an adapter
is one `register_adapter` call (plus its module); the parametrized adapter test then runs it on
its fake release (tests/data/releases.py). The manifest module maps raw labels to the task's
classes, so every adapter is configurable the same way.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

from radbench.config.schema import DataSpec
from radbench.data.ddti import read_crops, read_ddti
from radbench.data.images import DICOM_SUFFIXES, IMAGE_SUFFIXES
from radbench.data.medmnist import read_head_ct, read_medmnist, read_npz
from radbench.data.mrnet import read_mrnet
from radbench.data.published import Matcher, mrnet_key_slices
from radbench.data.records import PART_NAMES, RawRecord, group_from_name, image_files, inside, \
    part_name
from radbench.data.rsna import read_rsna_ich, read_rsna_pneumonia
from radbench.errors import DataError
from radbench.registry import Registry

MASK_PATTERN = re.compile(r"^(?P<stem>.+)_mask(?:_\d+)?$")


def _images_with_masks(files: list[Path]) -> tuple[list[tuple[Path, list[Path]]],
                                                    list[RawRecord]]:
    """Split files into images with their `<stem>_mask[_N].<ext>` masks (BUSI's convention),
    and a missing-image record for each mask whose image is not there (`x_mask.png` without
    `x.<any suffix>`), so that the manifest names it like any missing file instead of the mask
    vanishing unseen."""
    masks: dict[tuple[Path, str], list[Path]] = {}
    images: list[Path] = []
    for path in files:
        match = MASK_PATTERN.match(path.stem)
        if match:
            masks.setdefault((path.parent, match["stem"]), []).append(path)
        else:
            images.append(path)
    pairs = [(image, sorted(masks.pop((image.parent, image.stem), []))) for image in images]
    orphans = [RawRecord(mask.with_name(stem + mask.suffix), "", None, [mask],
                         missing=f"mask {mask} (its image is not there)")
               for (_, stem), paths in masks.items() for mask in paths]
    return pairs, orphans


def read_folders(root: Path, spec: DataSpec) -> list[RawRecord]:
    """Class-folder layout: the class is the name of the folder holding the file, at any depth
    (or of the folder at depth `class_level`); the group comes from `group_level` or the name.
    A folder named train, val/validation or test at any depth (the one nearest the root) is
    the image's part of the release (split scheme given); it is never taken for the class."""
    pairs, records = _images_with_masks(image_files(root, spec.exclude_dirs,
                                                     IMAGE_SUFFIXES | DICOM_SUFFIXES))
    for image, masks in pairs:
        folders = image.relative_to(root).parts[:-1]
        level = spec.class_level
        classes = [f for f in folders if part_name(f) is None] if level is None else folders
        if not classes or (level is not None and level >= len(folders)):
            raise DataError(
                f"{image}: not inside a class folder"
                + (f" at depth {level}" if level is not None else "")
                + f" below {root}"
                + (f" (folders named {'/'.join(sorted(PART_NAMES))} are parts, not classes)"
                   if level is None and folders else "")
            )
        raw_label = classes[-1] if level is None else folders[level]
        part = next((part_name(f) for f in folders if part_name(f)), None)
        if spec.group_level is not None:
            if spec.group_level >= len(folders):
                raise DataError(f"{image}: no folder at depth {spec.group_level} for its group")
            group = "/".join(folders[: spec.group_level + 1])
        else:
            group = group_from_name(image, spec.group_pattern)
        records.append(RawRecord(image, raw_label, group, masks, part=part))
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
        pairs, orphans = _images_with_masks(image_files(root / name, spec.exclude_dirs))
        records.extend(orphans)
        for image, masks in pairs:
            records.append(RawRecord(image, name, group_from_name(image, spec.group_pattern), masks))
    return records


def read_csv_manifest(root: Path, spec: DataSpec) -> list[RawRecord]:
    """A CSV with one row per image: path (relative to root), label, optional group, mask and
    split (the release's part: train, val/validation or test) columns."""
    table = root / (spec.csv or "manifest.csv")
    if not table.is_file():
        raise DataError(f"{table}: manifest CSV not found (set data.csv, relative to the data root)")
    columns = spec.columns
    try:
        table.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{table}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                        f"{exc.start}); save it as UTF-8") from None
    records = []
    with table.open(newline="", encoding="utf-8-sig") as handle:  # a BOM (Excel) is not a header
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        needed = [c for c in (columns.path, columns.label, columns.group, columns.mask,
                              columns.split) if c]
        absent = [c for c in needed if c not in header]
        if absent:
            raise DataError(f"{table}: missing column(s) {', '.join(absent)}; header is {header}")
        for number, row in enumerate(reader, start=2):
            where = f"{table} row {number}"
            path = inside(root, row[columns.path], where)
            part = None
            if columns.split:
                part = part_name(row[columns.split])
                if part is None:
                    raise DataError(f"{where}: column {columns.split} is "
                                    f"{row[columns.split]!r}; expected train, val (or "
                                    f"validation) or test")
            if not path.is_file():
                records.append(RawRecord(path, row[columns.label].strip(), None, [],
                                         f"{table.name} row {number}"))
                continue
            group = row[columns.group].strip() if columns.group else None
            masks = []
            if columns.mask and row[columns.mask].strip():
                masks = [inside(root, m, where) for m in row[columns.mask].split(";")]
                for mask in masks:
                    if not mask.is_file():
                        raise DataError(f"{where}: mask {mask} not found")
            records.append(RawRecord(path, row[columns.label].strip(),
                                     group or group_from_name(path, spec.group_pattern), masks,
                                     part=part))
    return records


Reader = Callable[[Path, DataSpec], list[RawRecord]]


@dataclass(frozen=True)
class Adapter:
    """One layout reader: `data.adapter` in a task names it."""

    name: str
    reader: Reader
    layouts: str  # what the folder must hold
    fetch: str | None = None  # `radbench data fetch NAME`: where to get the release
    # finds the image a row of the authors' published split names (split scheme `published`);
    # None: the release image with that file name (radbench.data.published.by_file_name)
    published: Callable[[Path, DataSpec], Matcher] | None = None
    # how the images differ from the paper's unless the published split is used (a data note)
    deviation: str | None = None


ADAPTERS: Registry[Adapter] = Registry("adapter")


def register_adapter(adapter: Adapter) -> Adapter:
    """Add `adapter` to the registry (its name must be new); returns it."""
    return ADAPTERS.register(adapter.name, adapter)


def get_adapter(name: str, where: str = "data.adapter") -> Adapter:
    """The registry entry for `name`; a ConfigError names `where` and the registered ones."""
    return ADAPTERS.get_entry(name, where)


for _entry in [
    Adapter("busi", read_busi, "Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (N).png "
            "with <class> (N)_mask[_K].png", "busi"),
    Adapter("ddti", read_ddti, "the release (<case>.xml beside <case>_<N>.jpg) or the crops "
            "layout (cropped/, mask/, diagnosis.csv)", "ddti"),
    Adapter("ddti_crops", read_crops, "cropped/, mask/, diagnosis.csv", "ddti"),
    Adapter("csv", read_csv_manifest, "a CSV (data.csv) with path, label and optional group "
            "and mask columns, paths relative to the root"),
    Adapter("folders", read_folders, "<class>/[...]/<image> at any depth (data.class_level, "
            "data.group_level), images or DICOM"),
    Adapter("mrnet", read_mrnet, "train|valid/sagittal/NNNN.npy with train-<target>.csv and "
            "valid-<target>.csv", "mrnet",
            published=lambda root, spec: mrnet_key_slices(root),  # the authors' key slices
            deviation="the study used the authors' annotated key slices (ACL: 1,021 slices of "
                      "498 exams); here every exam gives its data.slices central sagittal "
                      "slices with the exam's label, a deviation from the paper; --split "
                      "published takes the authors' slices"),
    Adapter("rsna_pneumonia", read_rsna_pneumonia, "stage_2_train_labels.csv and "
            "stage_2_train_images/<patientId>.dcm", "rsna_pneumonia"),
    Adapter("rsna_ich", read_rsna_ich, "stage_2_train.csv and stage_2_train/ID_<image>.dcm",
            "rsna_ich"),
    Adapter("medmnist", read_medmnist, "a MedMNIST <name>[_<size>].npz (data.target)",
            "breastmnist"),
    Adapter("npz", read_npz, "an .npz with {train,val,test}_images and _labels"),
    Adapter("head_ct", read_head_ct, "images/NNN.png and labels.csv (id, hemorrhage)", "head_ct"),
]:
    register_adapter(_entry)
