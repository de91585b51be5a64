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
    """breast with radbench's kfold split (its fallback when the published CSVs are absent)."""
    from radbench.runner import with_split_scheme

    return with_split_scheme(load_task("breast")[0], "kfold")


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


# Cell ids computed with radbench 0.1.0 (commit 42fc0d5), before the training settings were
# declared once: a change to how an id is computed would silently re-run every stored study.
# (task, grid) -> (number of cells, first id, sha256 of all ids joined by commas, first 16 hex)
PINNED_IDS = {
    # the smoke grid re-estimates BatchNorm statistics since issue 14 (its own new cells):
    # before, ("breast", "smoke"): (6, "4ce971681ccc756b", "091215ba9a9a4ad7")
    ("breast", "smoke"): (6, "08c7452f8e34471a", "c3c1cc7b43fb9423"),
    ("breast", "full"): (240, "6dda47d377bc9178", "6b19aced349cb05d"),
    ("thyroid", "smoke"): (6, "1335fb5e244c18af", "33133c368f1b1e76"),
    ("thyroid", "full"): (240, "6775ff619b9c5290", "7ddd6b65536cfa97"),
    ("demo", "smoke"): (6, "88bfe96c55af4463", "5093ef4a623e7cfa"),
    ("demo", "full"): (240, "cbac7279b537dc57", "9caad533f1ae2710"),
    ("acl", "full"): (240, "6f4a882bc603945b", "8ee8344765047e89"),
    ("breastmnist", "smoke"): (6, "140472480f84de6a", "d43788b304d88696"),
    ("breastmnist", "full"): (48, "120068b56a977fa7", "5b66b648c2f512da"),
    ("hemorrhage", "full"): (48, "58e915ff89230a83", "8d063ffa516ed48a"),
    ("pneumonia", "full"): (48, "974b64a8c3cabf98", "329f3e0e5bb27d43"),
}


@pytest.mark.parametrize("task_name,grid_name", sorted(PINNED_IDS))
def test_shipped_cell_ids_are_pinned(task_name, grid_name, tmp_path):
    """thyroid, breast and acl default to the published folds since issue 14; without the
    authors' CSVs they fall back to kfold, whose cells keep the ids pinned here."""
    import hashlib

    from radbench.config.load import load_grid
    from radbench.data.published import resolve_split

    task = resolve_split(load_task(task_name)[0], tmp_path / "no-splits")[0]
    ids = [cell_id(c, task, "data0") for c in expand(load_grid(grid_name)[0], task)]
    digest = hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
    assert (len(ids), ids[0], digest) == PINNED_IDS[(task_name, grid_name)]


def test_bn_check_holds_the_full_grid_and_its_calibrated_twin(task):
    """Its paper half has the full grid's cell ids (a setting at its default leaves ids alone),
    so one run directory shares those cells."""
    from radbench.config.load import load_grid

    full = {cell_id(c, task, "d") for c in expand(load_grid("full")[0], task)}
    cells = expand(load_grid("bn-check")[0], task)
    paper = {cell_id(c, task, "d") for c in cells if not c.training.batchnorm_calibration}
    assert len(cells) == 2 * len(full) and paper == full


def test_cell_ids_with_later_settings_and_axes_are_pinned(task):
    """Settings added after runs were stored (precision, jit_compile) enter an id only away
    from their default; an axis and an override each give their own ids."""
    grid = GridConfig.model_validate({
        "name": "g", "sources": ["scratch", "file:/w.weights.h5"], "backbones": ["ResNet50"],
        "settings": [{"freeze": "unfreezetop10", "lr": [0.001]}], "folds": [1], "seeds": [3],
        "overrides": {"jit_compile": True, "epochs": 4},
        "axes": {"precision": ["float32", "mixed_bfloat16"], "augment": [True, False],
                 "image_size": [64]}})
    assert [cell_id(c, task, "abc") for c in expand(grid, task)] == [
        "2b84c5bafcfb8f6b", "12cb161ce942b424", "80337e47fa680362", "20444f8d91835726",
        "d3d4726aa1f97efc", "26ca5ac5a75458ac", "1fa6580876869e05", "7705a4238a1353f7"]


def test_cell_id_depends_on_data_not_on_its_path(task):
    cells = expand(GridConfig.model_validate({**BASE, "folds": 1}), task)
    ids = [cell_id(c, task, "data1") for c in cells]
    assert len(set(ids)) == len(ids)
    assert cell_id(cells[0], task, "data2") != ids[0]
    round_trip = Cell.from_dict(cells[0].to_dict())
    assert cell_id(round_trip, task, "data1") == ids[0]
    moved = task.model_copy(update={"data": task.data.model_copy(update={"root": "/elsewhere"})})
    assert cell_id(cells[0], moved, "data1") == ids[0]  # the data path is not part of the id
