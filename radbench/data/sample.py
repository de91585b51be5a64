"""A few images of a task, decoded as its cells decode them: for a quick look at a dataset
through a backbone (`radbench weights inspect --task`)."""

from __future__ import annotations

import numpy as np


def task_images(task_ref: str, data: str | None, size: int, count: int, seed: int = 0
                ) -> np.ndarray:
    """Up to `count` images of a task's dataset (a stratified, patient-grouped subset), decoded
    as the task's cells decode them, at `size` px."""
    from radbench.config.load import load_task
    from radbench.data.decode import load_rgb
    from radbench.data.manifest import build_manifest, subset
    from radbench.data.prepare import data_root, windows_of

    task, task_file = load_task(task_ref)
    manifest = build_manifest(task, data_root(task, task_file, data), strict=False)
    if len(manifest.frame) > count:
        manifest = subset(manifest, count, seed)
    windows = windows_of(task)
    return np.stack([load_rgb(manifest.absolute(p), size, task.training.interpolation, windows)
                     for p in manifest.frame["path"]])
