"""`radbench task init`: a valid task YAML for a new dataset, classes read from the data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from radbench.config.load import validate
from radbench.config.schema import DataSpec, TaskConfig
from radbench.data.adapters import read_csv_manifest, read_folders
from radbench.data.manifest import Manifest, build_manifest, read_records
from radbench.data.plan import MIN_STEPS_PER_EPOCH, fitting_batch_size, steps_per_epoch
from radbench.data.splits import make_splits
from radbench.errors import ConfigError, DataError
from radbench.atomic import atomic_write_text

LIKELY_POSITIVE = ("malignant", "pneumonia", "tear", "positive", "hemorrhage", "abnormal",
                   "disease", "tumor", "tumour", "cancer", "covid", "ncp", "yes", "1", "true")
SMALL_TASK_LIMIT = 5000  # the paper: cross-validation for small tasks, one split for large ones
PAPER_BATCH_SIZE = 256


def _train_images(task: TaskConfig, manifest: Manifest) -> list[tuple[int, int]]:
    """(fold, training images) of each fold of the task's split of `manifest`; when the data
    are too few to split, train's share of the images (the run then says what is wrong)."""
    try:
        splits = make_splits(manifest, task.split, task.classes.names)
    except DataError:
        return [(0, int(task.split.fractions[0] * len(manifest.frame)))]
    train = splits[splits["part"] == "train"].groupby("fold").size()
    return [(int(f), int(n)) for f, n in train.items()]


def _scheme_sentence(split: dict, parts: Counter, small: bool) -> str:
    """Which split scheme task init wrote, and why."""
    if split["scheme"] == "given":
        found = ", ".join(f"{p} {n}" for p, n in sorted(parts.items()))
        inside = (f"{split['folds']}-fold cross-validation inside train + val"
                  if split["folds"] > 1 else
                  "the release's val part" if parts.get("val") else "val drawn from train")
        return (f"given: the data's own test part is kept as the test set, never re-split "
                f"(parts found: {found}); {inside}")
    return ("kfold, 5-fold CV (the paper's scheme for a small task)" if small else
            "holdout, one 75/10/15 split (the paper's scheme for a large task)")


def _choose_positive(labels: list[str], positive: str | None) -> str:
    if positive is not None:
        if positive not in labels:
            raise ConfigError(f"--positive {positive!r} is not a class of the data; found: "
                              f"{', '.join(labels)}")
        return positive
    guesses = [label for label in labels if label.lower() in LIKELY_POSITIVE]
    if len(labels) == 2 and len(guesses) == 1:
        return guesses[0]
    raise ConfigError(f"cannot tell the positive class; pass --positive with one of: "
                      f"{', '.join(labels)}")


def init_task(name: str, layout: str | None, data: Path, positive: str | None,
              group_pattern: str | None, out_file: Path, force: bool,
              all_classes: bool = False) -> tuple[Path, str]:
    """Scan `data`, write `out_file` (validated by loading it back); returns it and a summary.
    `all_classes`: keep every class of the data (a multi-class task when there are three or
    more; no positive class), instead of one positive class against the rest."""
    if layout is None:
        layout = "csv" if data.expanduser().is_file() else "folders"
    if layout not in ("folders", "csv"):
        raise ConfigError(f"--layout {layout!r}: expected folders or csv")
    if out_file.exists() and not force:
        raise ConfigError(f"{out_file}: already exists (use --force to overwrite)")
    data = data.expanduser().resolve()
    if layout == "csv":
        if not data.is_file():
            raise DataError(f"{data}: CSV file not found (expected columns path,label[,group])")
        root, csv_name = data.parent, data.name
        header = data.open().readline().strip().split(",")
        spec = DataSpec(adapter="csv", csv=csv_name, group_pattern=group_pattern,
                        columns={name: name if name in header else None
                                 for name in ("group", "mask", "split")})
        records = read_records(read_csv_manifest, root, spec)
    else:
        if not data.is_dir():
            raise DataError(f"{data}: dataset folder not found")
        root = data
        spec = DataSpec(adapter="folders", group_pattern=group_pattern)
        records = read_records(read_folders, root, spec)
    counts = Counter(r.raw_label for r in records)
    if len(counts) < 2:
        raise DataError(f"{data}: found {len(counts)} class(es) {sorted(counts)}; need two")
    labels = sorted(counts)
    if all_classes and positive is not None:
        raise ConfigError("--all-classes keeps every class: leave --positive out")
    multiclass = all_classes and len(labels) > 2
    chosen = None if multiclass else _choose_positive(labels, positive)
    others = [label for label in labels if label != chosen]
    negative = None if multiclass else (others[0] if len(others) == 1 else f"not_{chosen}")
    data_block = spec.model_dump(exclude_defaults=True, exclude_none=True)
    data_block["root"] = str(root)
    if len(others) > 1 and not multiclass:
        data_block["class_map"] = {label: negative for label in others}
    small = len(records) < SMALL_TASK_LIMIT
    augmentation = {"rotation_degrees": 10, "width_shift": 0.1, "height_shift": 0.1,
                    "shear_degrees": 0.1, "zoom": 0.1, "horizontal_flip": True,
                    "fill_mode": "nearest"} if small else {
        "width_shift": 0.1, "height_shift": 0.1, "shear_degrees": 0.1, "zoom": 0.1,
        "fill_mode": "nearest"}
    parts = Counter(r.part for r in records if not r.missing)
    given = "test" in parts and None not in parts
    if given:
        split = {"scheme": "given", "folds": 5 if small else 1,
                 "fractions": [0.7, 0.1, 0.2] if small else [0.75, 0.1, 0.15], "seed": 0}
    else:
        split = ({"scheme": "kfold", "folds": 5, "fractions": [0.7, 0.1, 0.2], "seed": 0}
                 if small else {"scheme": "holdout", "fractions": [0.75, 0.1, 0.15], "seed": 0})
    config = {
        "name": name,
        "description": (f"{' / '.join(labels)}" if multiclass else f"{chosen} vs {negative}")
        + f" ({layout} layout, written by radbench task init)",
        "data": data_block,
        "classes": {"names": labels} if multiclass else {"names": [negative, chosen],
                                                          "positive": chosen},
        "split": split,
        "training": {"image_size": 256, "batch_size": 256, "epochs": 30,
                     "normalization": "paper", "interpolation": "nearest",
                     "augmentation": augmentation},
    }
    task = validate(TaskConfig, config, out_file)
    manifest = build_manifest(task, root)  # the data must load with the written config
    train = min(n for _, n in _train_images(task, manifest))
    batch = fitting_batch_size(train, PAPER_BATCH_SIZE)
    config["training"]["batch_size"] = batch
    task = validate(TaskConfig, config, out_file)
    scheme = _scheme_sentence(split, parts, small)
    header = (f"# Task {name}: written by `radbench task init` from {data}\n"
              f"# {len(records)} images: " + ", ".join(f"{k} {v}" for k, v in counts.items())
              + f".\n# Split: {scheme}.\n")
    if batch != PAPER_BATCH_SIZE:
        header += (f"# batch_size {batch}, not the paper's {PAPER_BATCH_SIZE}: {train} training "
                   f"images give {steps_per_epoch(train, batch)} optimizer steps per epoch "
                   f"(the paper's would give {steps_per_epoch(train, PAPER_BATCH_SIZE)}).\n")
    if manifest.per_image_groups:
        header += ("# No --group-pattern: each image is its own group. If several images come "
                   "from one patient, set data.group_pattern so they stay in one part.\n")
    atomic_write_text(out_file, header + yaml.safe_dump(config, sort_keys=False))
    frame = manifest.frame
    per_class = ", ".join(
        f"{label} {int((frame['label'] == label).sum())} images in "
        f"{frame.loc[frame['label'] == label, 'group'].nunique()} groups"
        for label in (labels if multiclass else (negative, chosen)))
    classes = f"{len(labels)} classes" if multiclass else \
        f"classes {negative} / {chosen} (positive)"
    lines = [f"{name}: {len(frame)} images, {classes}: {per_class}; wrote {out_file}",
             f"split: {scheme}"]
    lines.append(f"batch size {batch}: {train} training images give "
                 f"{steps_per_epoch(train, batch)} optimizer steps per epoch"
                 + (f" (the paper's {PAPER_BATCH_SIZE} would give "
                    f"{steps_per_epoch(train, PAPER_BATCH_SIZE)}, fewer than "
                    f"{MIN_STEPS_PER_EPOCH})" if batch != PAPER_BATCH_SIZE else ""))
    if not manifest.per_image_groups:
        largest = frame["group"].value_counts().head(5)
        lines.append("largest groups: " + ", ".join(f"{g} ({n} images)"
                                                     for g, n in largest.items()))
    if len(others) > 1 and not multiclass:
        lines.append(f"note: {', '.join(others)} merged into {negative} (data.class_map)")
    if manifest.per_image_groups:
        lines.append("warning: no --group-pattern, so every image is its own group: images of "
                     "one patient may land in train and test. If file names carry a patient id, "
                     "run again with --group-pattern REGEX (group 1 = patient), e.g. "
                     "--group-pattern '^(\\w+?)_' for names like P012_slice3.png")
    return out_file, "\n".join(lines)
