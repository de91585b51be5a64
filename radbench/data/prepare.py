"""From a task and a dataset folder to checked manifest, splits and image caches.

Everything here happens before a run writes anything, so a bad dataset stops the run with one
line and leaves nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radbench.config.schema import TaskConfig
from radbench.data.manifest import Manifest, build_manifest, subset
from radbench.data.splits import make_splits, split_id
from radbench.errors import ConfigError


@dataclass
class PreparedData:
    task: TaskConfig
    manifest: Manifest
    splits: pd.DataFrame
    split_id: str

    @property
    def data_id(self) -> str:
        return self.manifest.data_id

    def fold_split(self, fold: int) -> pd.DataFrame:
        """case_id, row (index into the cache), part, y for one fold."""
        frame = self.manifest.frame.reset_index(drop=True)
        rows = pd.DataFrame({"case_id": frame["case_id"], "row": frame.index, "y": frame["y"]})
        fold_parts = self.splits[self.splits["fold"] == fold][["case_id", "part"]]
        return rows.merge(fold_parts, on="case_id")[["case_id", "row", "part", "y"]]


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


def prepare(task: TaskConfig, root: Path, max_images: int | None = None) -> PreparedData:
    """Manifest (optionally a stratified subset), then checked patient-grouped splits."""
    manifest = build_manifest(task, root)
    if max_images:
        manifest = subset(manifest, max_images, task.split.seed)
    splits = make_splits(manifest, task.split, task.classes.names)
    return PreparedData(task, manifest, splits, split_id(splits))
