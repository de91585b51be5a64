"""`radbench task init`: a valid task YAML for a new dataset, classes read from the data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from radbench.config.load import validate
from radbench.config.schema import DataSpec, TaskConfig
from radbench.data.adapters import read_csv_manifest, read_folders
from radbench.data.manifest import build_manifest
from radbench.errors import ConfigError, DataError
from radbench.atomic import atomic_write_text

LIKELY_POSITIVE = ("malignant", "pneumonia", "tear", "positive", "hemorrhage", "abnormal",
                   "disease", "tumor", "tumour", "cancer", "covid", "ncp", "yes", "1", "true")
SMALL_TASK_LIMIT = 5000  # the paper: cross-validation for small tasks, one split for large ones


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


def init_task(name: str, layout: str, data: Path, positive: str | None,
              group_pattern: str | None, out_file: Path, force: bool,
              all_classes: bool = False) -> tuple[Path, str]:
    """Scan `data`, write `out_file` (validated by loading it back); returns it and a summary.
    `all_classes`: keep every class of the data (a multi-class task when there are three or
    more; no positive class), instead of one positive class against the rest."""
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
                        columns={"group": "group" if "group" in header else None,
                                 "mask": "mask" if "mask" in header else None})
        records = read_csv_manifest(root, spec)
    else:
        if not data.is_dir():
            raise DataError(f"{data}: dataset folder not found")
        root = data
        spec = DataSpec(adapter="folders", group_pattern=group_pattern)
        records = read_folders(root, spec)
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
    config = {
        "name": name,
        "description": (f"{' / '.join(labels)}" if multiclass else f"{chosen} vs {negative}")
        + f" ({layout} layout, written by radbench task init)",
        "data": data_block,
        "classes": {"names": labels} if multiclass else {"names": [negative, chosen],
                                                          "positive": chosen},
        "split": ({"scheme": "kfold", "folds": 5, "fractions": [0.7, 0.1, 0.2], "seed": 0}
                  if small else {"scheme": "holdout", "fractions": [0.75, 0.1, 0.15], "seed": 0}),
        "training": {"image_size": 256, "batch_size": 256, "epochs": 30,
                     "normalization": "paper", "interpolation": "nearest",
                     "augmentation": augmentation},
    }
    task = validate(TaskConfig, config, out_file)
    manifest = build_manifest(task, root)  # the data must load with the written config
    header = (f"# Task {name}: written by `radbench task init` from {data}\n"
              f"# {len(records)} images: " + ", ".join(f"{k} {v}" for k, v in counts.items())
              + ".\n# Split and training follow the RadImageNet protocol "
              f"({'5-fold CV, small task' if small else 'one 75/10/15 split, large task'}).\n")
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
    lines = [f"{name}: {len(frame)} images, {classes}: "
             f"{per_class}; {'kfold' if small else 'holdout'} split; wrote {out_file}"]
    if len(others) > 1 and not multiclass:
        lines.append(f"note: {', '.join(others)} merged into {negative} (data.class_map)")
    if manifest.per_image_groups:
        lines.append("warning: no --group-pattern, so every image is its own group: images of "
                     "one patient may land in train and test. If file names carry a patient id, "
                     "run again with --group-pattern REGEX (group 1 = patient), e.g. "
                     "--group-pattern '^(\\w+?)_' for names like P012_slice3.png")
    return out_file, "\n".join(lines)
