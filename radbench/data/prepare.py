"""From a task and a dataset folder to checked manifest, splits and image caches.

Everything here happens before a run writes anything, so a bad dataset stops the run with one
line and leaves nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from radbench.config.schema import TaskConfig
from radbench.data.check import CheckReport, evaluate
from radbench.data.inspect import inspect_all, load_inspection, merge_duplicate_groups, \
    save_inspection
from radbench.data.manifest import Manifest, build_manifest, printable, subset
from radbench.data.published import published_split, read_published, resolve_split, \
    splits_root
from radbench.data.splits import make_splits, split_id, straddling_groups
from radbench.errors import ConfigError, DataError
from radbench.ids import file_md5, stable_hash
from radbench.store import DataDir, RunDir


@dataclass
class PreparedData:
    task: TaskConfig
    manifest: Manifest
    splits: pd.DataFrame
    split_id: str
    check: CheckReport | None = None
    skipped: list[dict] = field(default_factory=list)  # what --skip-bad left out, and why

    @property
    def data_id(self) -> str:
        return self.manifest.data_id

    def fold_split(self, fold: int) -> pd.DataFrame:
        """case_id, row (index into the cache), part, y for one fold."""
        frame = self.manifest.frame.reset_index(drop=True)
        rows = pd.DataFrame({"case_id": frame["case_id"], "row": frame.index, "y": frame["y"]})
        fold_parts = self.splits[self.splits["fold"] == fold][["case_id", "part"]]
        return rows.merge(fold_parts, on="case_id")[["case_id", "row", "part", "y"]]

    def write_to(self, run: RunDir) -> DataDir:
        """The run's data folder for this task and dataset (written once, kept after)."""
        folder = run.data_dir(self.task.name, self.data_id)
        if not folder.exists():
            folder.write(self.manifest.frame, self.splits, {
                "task": self.task.name,
                "root": str(self.manifest.root.resolve()),
                "data_id": self.data_id,
                "split_id": self.split_id,
                "counts": self.manifest.counts(),
                "paper_counts": self.task.paper_counts,
                "dropped": self.manifest.dropped,
                "per_image_groups": self.manifest.per_image_groups,
                "notes": self.manifest.notes,
                "skipped_bad": len(self.skipped),
            }, check=self.check.to_dict() if self.check is not None else None,
                skipped=pd.DataFrame(self.skipped) if self.skipped else None)
        return folder


def data_root(task: TaskConfig, task_file: Path | None, override: str | None) -> Path:
    """--data, else the task's data.root (relative to the task file)."""
    if override:
        return Path(override).expanduser()
    if task.data.root:
        root = Path(task.data.root).expanduser()
        if not root.is_absolute() and task_file is not None:
            root = task_file.parent / root
        return root
    raise ConfigError(f"task {task.name}: no dataset folder; pass --data PATH "
                      f"(or set data.root in the task file)")


def windows_of(task: TaskConfig) -> list[tuple[float, float]]:
    return [(w.center, w.width) for w in task.data.windows]


def prepare(task: TaskConfig, root: Path, max_images: int | None = None,
            skip_bad: bool = False, cache_dir: Path | None = None,
            keep_inspection: bool = True, splits_dir: str | Path | None = None,
            task_ref: str | None = None) -> PreparedData:
    """Manifest (optionally a stratified subset), the integrity check of every image, near-
    duplicates merged into one group when the task asks, then checked patient-grouped splits.

    A dataset with errors stops here (DataError) unless `skip_bad`, which leaves the listed
    images out and returns them in `skipped`. The inspection of a dataset without errors is kept
    in the cache folder (unless `keep_inspection` is false) and reused while no file changes.
    The published split scheme reads the authors' CSVs from `splits_dir` (radbench.data.
    published.splits_root) and takes the images they name. `task_ref` is the task as the user
    named it (a shipped name or a YAML path), for the hints.
    """
    task, split_notes = resolve_split(task, splits_dir)
    published = None
    if task.split.scheme == "published":
        published = read_published(task.name, splits_root(splits_dir))
    manifest = build_manifest(task, root, strict=not skip_bad, published=published)
    if max_images:
        manifest = subset(manifest, max_images, task.split.seed)
    windows = windows_of(task)
    kept = load_inspection(manifest, windows, cache_dir)
    infos = kept if kept is not None else inspect_all(manifest, windows)
    report = evaluate(task, manifest, infos)
    skipped = [{"image": printable(str(path)), "reason": f"{where}: file not found"}
               for path, where in manifest.missing]
    if report.errors and not skip_bad:
        first = report.errors[0].message
        raise DataError(
            f"{root}: the dataset fails the integrity check with {len(report.errors)} error(s), "
            f"first: {first}; `radbench data check {task_ref or task.name} --data {root}` "
            f"lists them all"
            + (", --skip-bad leaves those images out" if report.bad_case_ids else "")
        )
    if kept is None and keep_inspection:
        save_inspection(manifest, infos, windows, cache_dir)
    bad = report.bad_case_ids
    if bad:
        reasons = {}
        for finding in report.errors:
            for case in finding.case_ids:
                reasons.setdefault(case, finding.message)
        skipped += [{"image": printable(case), "reason": reasons[case]} for case in sorted(bad)]
        manifest = manifest.without(bad, f"--skip-bad left out {len(bad)} image(s) that failed "
                                         f"the integrity check")
    conflicts = {c for f in report.warnings if f.kind == "label_conflict" for c in f.case_ids}
    conflicts &= set(manifest.frame["case_id"])
    if conflicts:  # data.label_conflicts: drop
        skipped += [{"image": printable(case), "reason": "label conflict (data.label_conflicts: "
                     "drop)"} for case in sorted(conflicts)]
        manifest = manifest.without(conflicts, f"label_conflicts: drop left out {len(conflicts)} "
                                    f"image(s) whose picture is also in another class "
                                    f"(`radbench data check` names them)", "(label conflict)")
    if task.data.near_duplicates == "group":
        remaining = set(manifest.frame["case_id"])
        sets = [[c for c in members if c in remaining] for members in report.duplicates]
        kept_as = "published" if published is not None else (
            "released" if task.split.scheme == "given" else None)
        manifest = merge_duplicate_groups(manifest, [s for s in sets if len(s) > 1], kept_as)
    splits = make_splits(manifest, task.split, task.classes.names, published)
    if published is not None:
        notes = _published_notes(task, splits, manifest, splits_root(splits_dir))
    else:
        notes = [given_note(task, manifest, splits) if task.split.scheme == "given" else
                 f"split: {task.split.scheme} made by radbench ({task.split.n_folds} fold(s), "
                 f"patient-grouped, label-stratified, seed {task.split.seed})"]
    manifest = replace(manifest, notes=manifest.notes + split_notes + notes)
    return PreparedData(task, manifest, splits, split_id(splits), report, skipped)


def given_note(task: TaskConfig, manifest: Manifest, splits: pd.DataFrame) -> str:
    """The report's and the run's sentence for a given split: the fixed test part, where val
    comes from, and any patient the release puts in two parts."""
    parts = manifest.frame["release_part"].value_counts()
    test = int(parts.get("test", 0))
    if task.split.folds > 1:
        val = (f"{task.split.folds}-fold cross-validation inside the release's train + val "
               f"(patient-grouped, label-stratified, seed {task.split.seed})")
    elif parts.get("val", 0):
        val = f"the release's val part ({int(parts['val'])} images)"
    else:
        val = (f"val drawn once from the release's train part (patient-grouped, "
               f"label-stratified, seed {task.split.seed})")
    note = (f"split: given, the release's own test part ({test} images) fixed in every fold, "
            f"never re-split; {val}")
    straddling = straddling_groups(splits, manifest)
    if straddling and not manifest.per_image_groups:
        note += (f"; the release puts {straddling} patient group(s) in two parts (kept as "
                 f"released)")
    return note


def _published_notes(task: TaskConfig, splits: pd.DataFrame, manifest: Manifest,
                     root: Path) -> list[str]:
    entry = published_split(task.name)
    notes = [f"split: the RadImageNet authors' published folds ({entry.folder}/dataframe at "
             f"commit {entry.commit[:10]}, read from {root})" + (
                 "; as published, a fold's val images are test images of other folds"
                 if entry.folds > 1 else "")]
    if entry.unchecked:
        folder = root / entry.folder / "dataframe"
        digest = stable_hash({name: file_md5(folder / name) for name in entry.unchecked})
        notes.append(f"split: {len(entry.unchecked)} published file(s) read without a recorded "
                     f"MD5 (radbench has not checked a copy of them); their combined hash "
                     f"{digest}")
    straddling = straddling_groups(splits, manifest)
    if straddling:
        notes.append(f"split: the published folds put {straddling} patient or near-duplicate "
                     f"group(s) in two parts of a fold (kept as published; radbench's own "
                     f"kfold split keeps groups whole)")
    return notes
