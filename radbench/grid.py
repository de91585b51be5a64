"""A grid YAML and a task → the list of cells, each a fully resolved training run."""

from __future__ import annotations

import itertools
from typing import Any

from radbench.cellspec import Cell
from radbench.config.schema import LATER_SETTINGS, TRAINING_SETTINGS, Augmentation, GridConfig, \
    TaskConfig, Training
from radbench.errors import ConfigError
from radbench.ids import stable_hash
from radbench.models.backbones import get_backbone


def cell_id(cell: Cell, task: TaskConfig, data_id: str) -> str:
    """Stable id of a resolved cell: its parameters, the task (less the data path), the data."""
    task_config = _id_view(task.model_dump(mode="json"))
    cell_config = cell.to_dict()
    for config in (cell_config["training"], task_config["training"]):
        for key, default in LATER_SETTINGS.items():
            if config.get(key, default) == default:
                config.pop(key, None)
    return stable_hash({"cell": cell_config, "task": task_config, "data": data_id})


def _id_view(task_config: dict) -> dict:
    """The task as cell ids hash it: less the data path, and less the keys added after runs
    were stored while they hold their defaults (so those cells keep their ids)."""
    task_config["data"].pop("root", None)
    if task_config["data"]["columns"].get("split") is None:
        task_config["data"]["columns"].pop("split", None)
    task_config["data"].pop("label_conflicts", None)  # what it changes, the data id holds
    task_config["data"].pop("external", None)  # a site scores cells, never changes them
    split = task_config["split"]
    if split["scheme"] == "given" and split["folds"] == 1:
        split["folds"] = 5  # a given split had no folds of its own: the dump showed the default
    return task_config


def _folds(grid: GridConfig, task: TaskConfig) -> list[int]:
    available = list(range(task.split.n_folds))
    if grid.folds == "all":
        return available
    if isinstance(grid.folds, int):
        if not 1 <= grid.folds <= len(available):
            raise ConfigError(
                f"grid {grid.name}: folds: {grid.folds} but task {task.name} has "
                f"{len(available)} fold(s)"
            )
        return available[: grid.folds]
    bad = [f for f in grid.folds if f not in available]
    if bad:
        raise ConfigError(
            f"grid {grid.name}: folds {bad} do not exist; task {task.name} has folds {available}"
        )
    return list(grid.folds)


def resolve_training(task: TaskConfig, fixed: dict[str, Any]) -> Training:
    """The task's training settings with grid overrides (named by setting key) applied."""
    values = task.training.model_dump()
    for role in TRAINING_SETTINGS:
        value = fixed.get(role.key)
        if value is None:
            continue
        if isinstance(role.default, Augmentation):  # augment: false turns it off
            if value is False:
                values[role.field] = Augmentation().model_dump()
        else:
            values[role.field] = value
    return Training.model_validate(values)


def expand(grid: GridConfig, task: TaskConfig, sources: list[str] | None = None) -> list[Cell]:
    """All cells of `grid` on `task`, in a stable order (fold innermost). Every backbone must
    be registered (radbench.models.backbones)."""
    for index, name in enumerate(grid.backbones):
        get_backbone(name, grid.key(f"backbones.{index}"))
    chosen_sources = sources if sources is not None else grid.sources
    folds = _folds(grid, task)
    axis_names = sorted(grid.axes)
    axis_values = [grid.axes[name] for name in axis_names]
    cells: list[Cell] = []
    for source, backbone in itertools.product(chosen_sources, grid.backbones):
        for setting in grid.settings:
            for lr, combo, seed in itertools.product(
                setting.rates, itertools.product(*axis_values), grid.seeds
            ):
                fixed = {**grid.overrides.model_dump(), **dict(zip(axis_names, combo))}
                training = resolve_training(task, fixed)
                minimum = get_backbone(backbone).min_size
                if training.image_size < minimum:
                    raise ConfigError(
                        f"grid {grid.name}: {backbone} needs image_size >= {minimum}, "
                        f"got {training.image_size}"
                    )
                for fold in folds:
                    cells.append(
                        Cell(task.name, source, backbone, setting.freeze, float(lr), seed, fold,
                             training)
                    )
    return cells
