"""Does the plan fit the data? Optimizer steps per epoch, a batch size that gives enough of them,
and test parts with too few cases of a class for their AUC to mean much.

`task init` picks the batch size here; `run --dry-run` prints `plan_lines`; `data check` and the
report name the underpowered test parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

MIN_STEPS_PER_EPOCH = 10  # fewer: the paper's batch size on a small data set (one step per epoch)
MIN_TOTAL_STEPS = 100  # a cell that takes fewer optimizer steps in all has barely trained
MIN_TEST_PER_CLASS = 10  # fewer positives or negatives in a test part: its AUC CI is wide


def steps_per_epoch(train_images: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: the last, partial batch is a step too."""
    return math.ceil(train_images / batch_size) if train_images else 0


def fitting_batch_size(train_images: int, batch_size: int,
                       minimum_steps: int = MIN_STEPS_PER_EPOCH) -> int:
    """`batch_size` when it gives at least `minimum_steps` steps per epoch on `train_images`,
    else the largest power of two that does (at least 2)."""
    if steps_per_epoch(train_images, batch_size) >= minimum_steps:
        return batch_size
    fitting = 2
    while fitting * 2 <= batch_size and steps_per_epoch(train_images, fitting * 2) >= minimum_steps:
        fitting *= 2
    return fitting


@dataclass(frozen=True)
class FoldCounts:
    """One fold of a split: images per part; per class, the test part's images."""

    fold: int
    parts: dict[str, int]
    test_per_class: dict[str, int]

    def thin_test_classes(self, minimum: int = MIN_TEST_PER_CLASS) -> dict[str, int]:
        return {name: n for name, n in self.test_per_class.items() if n < minimum}


def fold_counts(splits: pd.DataFrame, frame: pd.DataFrame, class_names: list[str]
                ) -> list[FoldCounts]:
    """Per fold of `splits` (case_id, fold, part), with the manifest `frame` (case_id, label)."""
    merged = splits.merge(frame[["case_id", "label"]], on="case_id")
    found = []
    for fold, rows in merged.groupby("fold"):
        parts = {str(k): int(v) for k, v in rows["part"].value_counts().items()}
        test = rows.loc[rows["part"] == "test", "label"].value_counts()
        found.append(FoldCounts(int(fold), parts,
                                {name: int(test.get(name, 0)) for name in class_names}))
    return found


def underpowered_sentence(counts: list[FoldCounts], minimum: int = MIN_TEST_PER_CLASS
                          ) -> str | None:
    """One sentence naming the folds whose test part holds fewer than `minimum` images of a
    class, or None."""
    thin = [(c.fold, c.thin_test_classes(minimum)) for c in counts if c.thin_test_classes(minimum)]
    if not thin:
        return None
    shown = "; ".join(f"fold {fold}: " + ", ".join(f"{n} {name}" for name, n in classes.items())
                      for fold, classes in thin[:5])
    return (f"underpowered test part(s): {shown} (fewer than {minimum} of a class; an AUC on "
            f"so few cases has a CI tens of points wide, so the report marks these cells "
            f"underpowered; use more images, fewer folds or a holdout split)")


def plan_lines(task_name: str, counts: list[FoldCounts], epochs: dict[int, int],
               folds: list[int], grid_batch: int | None = None) -> tuple[list[str], list[str]]:
    """The dry run's plan for one task: a line per fold used (images per part, the test part's
    classes, steps per epoch and in all, per batch size of the grid) and the warnings.
    `epochs`: each batch size of the grid's cells -> the fewest epochs a cell runs with it;
    `grid_batch`: the batch size the grid fixes under `overrides`, if any."""
    lines, warnings = [], []
    by_fold = {c.fold: c for c in counts}
    for fold in folds:
        c = by_fold[fold]
        parts = ", ".join(f"{p} {c.parts.get(p, 0)}" for p in ("train", "val", "test"))
        test = ", ".join(f"{name} {n}" for name, n in c.test_per_class.items())
        steps = "; ".join(
            f"batch {b}: {steps_per_epoch(c.parts.get('train', 0), b)} step(s)/epoch, "
            f"{steps_per_epoch(c.parts.get('train', 0), b) * epochs[b]} in {epochs[b]} epochs"
            for b in sorted(epochs))
        lines.append(f"  {task_name} fold {fold}: {parts} (test: {test})"
                     + (f"; {steps}" if steps else ""))
    train = min(by_fold[f].parts.get("train", 0) for f in folds)
    for batch in sorted(epochs):
        per_epoch = steps_per_epoch(train, batch)
        total = per_epoch * epochs[batch]
        if per_epoch < MIN_STEPS_PER_EPOCH or total < MIN_TOTAL_STEPS:
            warnings.append(
                f"warning: {task_name}: batch size {batch} on {train} training images gives "
                f"{per_epoch} optimizer step(s) per epoch, {total} in all (expected at least "
                f"{MIN_STEPS_PER_EPOCH} per epoch and {MIN_TOTAL_STEPS} in all); "
                + (f"the grid fixes batch_size {batch}: set it to "
                   f"{fitting_batch_size(train, batch)} under the grid's overrides"
                   if grid_batch == batch else
                   f"set training.batch_size to {fitting_batch_size(train, batch)} in the task "
                   f"YAML (or batch_size under the grid's overrides)"))
    sentence = underpowered_sentence([by_fold[f] for f in folds])
    if sentence:
        warnings.append(f"warning: {task_name}: {sentence}")
    return lines, warnings
