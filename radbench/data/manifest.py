"""The one internal manifest: per image a case id, path, class, group and optional masks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from radbench.config.schema import TaskConfig
from radbench.data.adapters import get_adapter
from radbench.data.images import locator_file
from radbench.data.published import by_file_name
from radbench.data.records import GroupPatternMiss, RawRecord, pattern_misses, \
    relative_locator
from radbench.errors import DataError
from radbench.ids import stable_hash

COLUMNS = ["case_id", "path", "raw_label", "label", "y", "group", "masks", "release_part"]


@dataclass
class Manifest:
    """Images of one task. `frame` has COLUMNS; paths are relative to `root`."""

    root: Path
    frame: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)
    per_image_groups: bool = False
    notes: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (file, where it was listed)
    published_names: dict[str, list[str]] = field(default_factory=dict)  # CSV name -> cases
    # files whose names are not UTF-8 (their bytes written \xNN): kept out of `frame` (pandas'
    # pyarrow-backed str cannot hold them), listed as errors by the data check
    unencodable: list[str] = field(default_factory=list)

    @property
    def data_id(self) -> str:
        """Hash of what the images are (ids, classes, groups), independent of where they live."""
        return stable_hash(self.frame[["case_id", "label", "group"]].values.tolist())

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.frame["label"].value_counts().sort_index().items()}

    def absolute(self, relative: str) -> Path:
        """The locator below the root (`FILE::FRAGMENT` for images inside a file)."""
        return self.root / relative

    def file_of(self, relative: str) -> Path:
        """The file on disk that holds the image."""
        return locator_file(self.root / relative)

    def without(self, case_ids: set[str], note: str, reason: str = "(bad file)") -> "Manifest":
        """The manifest less some images (e.g. those `--skip-bad` leaves out), counted under
        `reason` in `dropped`."""
        frame = self.frame[~self.frame["case_id"].isin(case_ids)].reset_index(drop=True)
        dropped = dict(self.dropped)
        dropped[reason] = dropped.get(reason, 0) + len(case_ids)
        return replace(self, frame=frame, dropped=dropped, notes=self.notes + [note])


def _encodable(record: RawRecord) -> bool:
    """Whether every path of the record is valid UTF-8 (Python keeps other bytes of a file name
    as surrogates, which no CSV, JSON or pyarrow string can hold)."""
    try:
        for path in (record.path, *record.masks):
            str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """A file name as text any file can hold: bytes that are not UTF-8 (kept by Python as
    surrogates) written as \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_records(reader, root: Path, spec) -> list[RawRecord]:
    """The adapter's records; a group pattern that misses file names is one DataError that
    counts every miss (not only the first) and previews the groups it makes."""
    try:
        return reader(root, spec)
    except GroupPatternMiss as miss:
        from radbench.data.images import DICOM_SUFFIXES, IMAGE_SUFFIXES

        raise DataError(pattern_misses(root, miss.pattern, spec.exclude_dirs,
                                       IMAGE_SUFFIXES | DICOM_SUFFIXES)) from None


def _map_labels(task: TaskConfig, raw_labels: pd.Series, paths: pd.Series, root: Path) -> pd.Series:
    spec, names = task.data, task.classes.names
    mapping = {name: name for name in names} | dict(spec.class_map)
    unknown = sorted(set(raw_labels) - set(mapping) - set(spec.drop_labels))
    if unknown:
        example = paths[raw_labels == unknown[0]].iloc[0]
        raise DataError(
            f"{root}: label {unknown[0]!r} (e.g. {example}) is not a class of task {task.name} "
            f"(classes: {', '.join(names)}); map it in data.class_map or list it in "
            f"data.drop_labels" + (f"; other unknown labels: {unknown[1:]}" if unknown[1:] else "")
        )
    return raw_labels.map(mapping)


def build_manifest(task: TaskConfig, root: Path, strict: bool = True,
                   published: pd.DataFrame | None = None) -> Manifest:
    """Read the dataset at `root` with the task's adapter and map its labels to the classes.

    A listed image whose file does not exist stops it when `data.missing_files` is `error` and
    `strict` (the integrity check passes strict=False to list them all). With `published` (the
    authors' split rows, radbench.data.published), the images are those rows, found in the
    release by the adapter's matcher and labelled as the rows say; a row that matches no image
    stops it when `strict`, else it is left out and counted.
    """
    adapter = get_adapter(task.data.adapter, task.key("data.adapter"))
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: a file, not a folder; the dataset of task {task.name} "
                        f"(adapter {task.data.adapter}) is a folder: pass --data FOLDER")
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found (task {task.name}, adapter "
                        f"{task.data.adapter}); pass --data PATH")
    names: dict[str, str] = {}
    unmatched: list[tuple[str, str]] = []
    if published is None:
        records = read_records(adapter.reader, root, task.data)
    else:
        records, names, unmatched = _published_records(adapter, root, task, published)
        if unmatched and strict:
            shown = "; ".join(f"{name} ({where})" for name, where in unmatched[:3])
            raise DataError(f"{root}: {len(unmatched)} row(s) of the published split match no "
                            f"image of this release, e.g. {shown}; --skip-bad leaves them out")
    missing = [(str(r.path), r.missing) for r in records if r.missing]
    if missing and strict and task.data.missing_files == "error":
        path, where = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{where}: image {path} not found{more}; expected the file to exist "
                        f"(data.missing_files: drop leaves such rows out)")
    records = [r for r in records if not r.missing]
    unencodable = [printable(str(r.path)) for r in records if not _encodable(r)]
    records = [r for r in records if _encodable(r)]
    if not records:
        raise DataError(f"{root}: no images found for adapter {task.data.adapter}" + (
            f" ({len(unencodable)} file(s) whose names are not UTF-8, e.g. {unencodable[0]})"
            if unencodable else ""))
    frame = pd.DataFrame({
        "path": [relative_locator(r.path, root) for r in records],
        "raw_label": [r.raw_label for r in records],
        "group": [r.group for r in records],
        "masks": [";".join(relative_locator(m, root) for m in r.masks) for r in records],
        "release_part": [r.part for r in records],
    })
    dropped = Counter(frame.loc[frame["raw_label"].isin(task.data.drop_labels), "raw_label"])
    frame = frame[~frame["raw_label"].isin(task.data.drop_labels)].reset_index(drop=True)
    frame["label"] = _map_labels(task, frame["raw_label"], frame["path"], root)
    for name in task.classes.names:
        if not (frame["label"] == name).any():
            raise DataError(f"{root}: class {name!r} of task {task.name} has no images")
    if task.classes.multiclass:  # y is the class's position in classes.names
        frame["y"] = frame["label"].map({n: i for i, n in enumerate(task.classes.names)})
    else:
        frame["y"] = (frame["label"] == task.classes.positive).astype(int)
    frame["case_id"] = frame["path"]
    duplicated = frame["case_id"][frame["case_id"].duplicated()]
    if len(duplicated):
        raise DataError(f"{root}: image {duplicated.iloc[0]!r} is listed twice")
    per_image = frame["group"].isna().all()
    notes = []
    if per_image:
        frame["group"] = frame["case_id"]
        notes.append("no patient ids: each image is its own group, so images of one patient "
                     "may fall in different parts")
    elif frame["group"].isna().any():
        missing = frame.loc[frame["group"].isna(), "path"].iloc[0]
        raise DataError(f"{root}: image {missing} has no group while others do")
    frame["group"] = frame["group"].astype(str)
    mixed = frame.groupby("group")["label"].nunique()
    if (mixed > 1).any():
        notes.append(f"{int((mixed > 1).sum())} group(s) hold images of both classes")
    if dropped:
        notes.append("dropped: " + ", ".join(f"{n} image(s) labelled {k!r}"
                                             for k, n in sorted(dropped.items())))
    if missing and task.data.missing_files == "drop":
        wheres = [where for _, where in missing]
        notes.append(f"left out {len(missing)} listed image(s) whose file does not exist "
                     f"({', '.join(wheres[:5])}{', ...' if len(wheres) > 5 else ''})")
        dropped["(missing file)"] = len(missing)
    if published is None and adapter.deviation:
        notes.append(f"not the paper's images: {adapter.deviation}")
    crops = sum(len(paths) for paths in names.values())
    if crops > len(names):
        notes.append(f"the {len(names)} published images are {crops} images of this release "
                     f"(a crop per nodule); each crop is in its image's part")
    if unmatched:
        dropped["(published row without an image)"] = len(unmatched)
        notes.append(f"left out {len(unmatched)} row(s) of the published split that match no "
                     f"image of this release (--skip-bad), e.g. {unmatched[0][0]}")
    return Manifest(root, frame[COLUMNS], dict(dropped), bool(per_image), notes,
                    missing if task.data.missing_files == "error" else [],
                    {name: [relative_locator(p, root) for p in paths]
                     for name, paths in names.items()}, unencodable=unencodable)


def _published_records(adapter, root: Path, task: TaskConfig, rows: pd.DataFrame
                       ) -> tuple[list[RawRecord], dict[str, list], list[tuple[str, str]]]:
    """The records of the images the published rows name (one per image; one per nodule crop
    of a crops layout), labelled as the rows say."""
    if adapter.published is not None:
        match = adapter.published(root, task.data)
    else:
        match = by_file_name([r for r in adapter.reader(root, task.data) if not r.missing])
    labels = rows.groupby("name")["label"].agg(set)
    conflicting = labels[labels.map(len) > 1]
    if len(conflicting):
        raise DataError(f"published split: image {conflicting.index[0]} has two labels "
                        f"{sorted(conflicting.iloc[0])} in different files")
    first = rows.drop_duplicates("name")
    records, names, unmatched = [], {}, []
    for name, label, where in zip(first["name"], first["label"], first["where"]):
        found = match(name)
        if not found:
            unmatched.append((name, where))
            continue
        records += [RawRecord(r.path, label, r.group, r.masks) for r in found]
        names[name] = [r.path for r in found]
    return records, names, unmatched


def subset(manifest: Manifest, max_images: int, seed: int) -> Manifest:
    """A stratified subset of `max_images` images that keeps every group whole.

    Each class gets its share of `max_images` (largest remainders); groups are taken in a
    seeded random order while they fit their class's quota, so the subset holds exactly
    `max_images` images unless whole groups cannot add up to it, which the note then says.
    """
    frame = manifest.frame
    if max_images >= len(frame):
        return manifest
    if max_images < 8:
        raise DataError(f"--max-images {max_images}: too few to split, use at least 8")
    share = frame["y"].value_counts(normalize=True).sort_index() * max_images
    quota = np.floor(share).astype(int)
    for label in (share - quota).sort_values(ascending=False).index[: max_images - quota.sum()]:
        quota[label] += 1
    groups = frame.groupby("group", sort=True)
    names = list(groups.groups)
    left = {int(k): int(v) for k, v in quota.items()}
    chosen: list[np.ndarray] = []
    for index in np.random.default_rng(seed).permutation(len(names)):
        members = groups.indices[names[index]]
        label = int(frame["y"].iloc[members].mode().iloc[0])  # a group's class: its majority
        if len(members) <= left[label]:
            chosen.append(members)
            left[label] -= len(members)
        if not any(left.values()):
            break
    rows = np.sort(np.concatenate(chosen))
    why = "" if len(rows) == max_images else (
        f"; whole patient groups could not add up to {max_images} exactly")
    notes = manifest.notes + [f"subset: {len(rows)} of {len(frame)} images (--max-images "
                              f"{max_images}, whole groups, stratified{why})"]
    return replace(manifest, frame=frame.iloc[rows].reset_index(drop=True), notes=notes)
