"""Grid expansion: conditional learning rates, extra axes, folds, stable cell ids."""

import pytest

from radbench.config.schema import GridConfig
from radbench.config.load import load_task
from radbench.errors import ConfigError
from radbench.grid import Cell, cell_id, expand

BASE = {"name": "g", "sources": ["scratch"], "backbones": ["ResNet50"],
        "settings": [{"freeze": "freezeall", "lr": [0.01, 0.001]},
                     {"freeze": "unfreezeall", "lr": [0.0001]}]}


@pytest.fixture
def task():
    return load_task("breast")[0]


def test_lr_depends_on_freeze(task):
    cells = expand(GridConfig.model_validate({**BASE, "folds": 1}), task)
    assert [(c.freeze, c.lr) for c in cells] == [("freezeall", 0.01), ("freezeall", 0.001),
                                                ("unfreezeall", 0.0001)]


def test_extra_axes_multiply_without_new_code(task):
    grid = GridConfig.model_validate({**BASE, "folds": 1, "seeds": [0, 1],
                                      "sources": ["scratch", "file:/w.h5"],
                                      "axes": {"normalization": ["paper", "native"],
                                               "image_size": [64, 128]}})
    cells = expand(grid, task)
    assert len(cells) == 3 * 2 * 2 * 2 * 2
    assert {c.training.normalization for c in cells} == {"paper", "native"}
    assert {c.training.image_size for c in cells} == {64, 128}
    assert {c.seed for c in cells} == {0, 1}


def test_overrides_and_augment_off(task):
    grid = GridConfig.model_validate({**BASE, "overrides": {"epochs": 3, "augment": False}})
    cell = expand(grid, task)[0]
    assert cell.training.epochs == 3
    assert not cell.training.augmentation.enabled
    assert task.training.augmentation.enabled  # the task itself is untouched


def test_folds_all_int_and_list(task):
    assert {c.fold for c in expand(GridConfig.model_validate(BASE), task)} == set(range(5))
    assert {c.fold for c in expand(GridConfig.model_validate({**BASE, "folds": 2}), task)} == {0, 1}
    assert {c.fold for c in expand(GridConfig.model_validate({**BASE, "folds": [3]}), task)} == {3}
    with pytest.raises(ConfigError, match="folds"):
        expand(GridConfig.model_validate({**BASE, "folds": [7]}), task)


def test_image_size_below_backbone_minimum(task):
    grid = GridConfig.model_validate({**BASE, "backbones": ["InceptionV3"],
                                      "overrides": {"image_size": 64}})
    with pytest.raises(ConfigError, match="InceptionV3 needs image_size >= 75"):
        expand(grid, task)


def test_cell_id_is_stable_and_sensitive(task):
    cells = expand(GridConfig.model_validate({**BASE, "folds": 1}), task)
    ids = [cell_id(c, task, "data1") for c in cells]
    assert ids == [cell_id(c, task, "data1") for c in cells]
    assert len(set(ids)) == len(ids)
    assert cell_id(cells[0], task, "data2") != ids[0]
    round_trip = Cell.from_dict(cells[0].to_dict())
    assert cell_id(round_trip, task, "data1") == ids[0]
    moved = task.model_copy(update={"data": task.data.model_copy(update={"root": "/elsewhere"})})
    assert cell_id(cells[0], moved, "data1") == ids[0]  # the data path is not part of the id
