"""Every shipped config validates and expands; the full grid is the paper's."""

from collections import Counter

import pytest

from radbench.config.load import load_grid, load_task, shipped_names
from radbench.grid import expand

TASKS = shipped_names("tasks")
GRIDS = shipped_names("grids")
PAPER_TASKS = {"thyroid", "breast", "acl", "meniscus", "pneumonia", "covid19", "sarscov2",
               "hemorrhage"}


def test_all_paper_tasks_and_grids_are_shipped():
    assert PAPER_TASKS | {"demo"} <= set(TASKS)
    assert {"full", "smoke", "bn-check"} <= set(GRIDS)


@pytest.mark.parametrize("grid_name", GRIDS)
@pytest.mark.parametrize("task_name", TASKS)
def test_every_grid_expands_on_every_task(task_name, grid_name):
    task, _ = load_task(task_name)
    grid, _ = load_grid(grid_name)
    sources = ["scratch"] if "imagenet" in grid.sources else None
    cells = expand(grid, task, sources)
    assert cells and all(c.task == task_name for c in cells)


def test_full_grid_is_24_scenarios_per_source_with_lr_tied_to_freeze():
    task, _ = load_task("breast")
    grid, _ = load_grid("full")
    cells = expand(grid, task)
    assert grid.sources == ["imagenet", "radimagenet"]
    per_source = Counter((c.source) for c in cells if c.fold == 0)
    assert per_source == {"imagenet": 24, "radimagenet": 24}
    assert len(cells) == 2 * 24 * 5  # five folds on a small task
    lrs = {(c.freeze, c.lr) for c in cells}
    assert lrs == {("freezeall", 1e-2), ("freezeall", 1e-3), ("unfreezetop10", 1e-2),
                   ("unfreezetop10", 1e-3), ("unfreezeall", 1e-3), ("unfreezeall", 1e-4)}
    assert {c.backbone for c in cells} == {"InceptionV3", "ResNet50", "DenseNet121",
                                           "InceptionResNetV2"}


def test_large_tasks_use_one_split_and_small_tasks_five_folds():
    for name in ("pneumonia", "covid19", "sarscov2", "hemorrhage"):
        task, _ = load_task(name)
        assert task.split.scheme == "holdout" and task.split.fractions == (0.75, 0.10, 0.15)
        assert task.training.augmentation.rotation_degrees == 0
        assert not task.training.augmentation.horizontal_flip
    for name in ("thyroid", "breast", "acl", "meniscus"):
        task, _ = load_task(name)
        assert task.split.folds == 5
        assert task.training.augmentation.rotation_degrees == 10
    # the authors' folds (and, for the knee tasks, key slices) once fetched, else radbench's own
    schemes = {name: (load_task(name)[0].split.scheme, load_task(name)[0].split.fallback)
               for name in ("thyroid", "breast", "acl", "meniscus")}
    assert schemes == {"thyroid": ("published", "kfold"), "breast": ("published", "kfold"),
                       "acl": ("published", "kfold"), "meniscus": ("published", "kfold")}


def test_smoke_grid_is_six_settings_one_small_backbone_64px_2_epochs_1_fold():
    task, _ = load_task("breast")
    grid, _ = load_grid("smoke")
    cells = expand(grid, task)
    assert len(cells) == 6
    assert {c.backbone for c in cells} == {"MobileNetV3Small"}
    assert {c.training.image_size for c in cells} == {64}
    assert {c.training.epochs for c in cells} == {2}
    assert {c.fold for c in cells} == {0}
    assert {c.training.batchnorm_calibration for c in cells} == {True}


def test_paper_counts_are_recorded():
    task, _ = load_task("breast")
    assert task.paper_counts == {"malignant": 210, "benign": 570}
    task, _ = load_task("thyroid")
    assert task.paper_counts == {"malignant": 288, "benign": 61}


@pytest.mark.parametrize("corpus_name", shipped_names("corpora"))
def test_every_shipped_corpus_validates(corpus_name):
    from radbench.config.load import load_corpus

    corpus, _ = load_corpus(corpus_name)
    assert corpus.parts and corpus.name == corpus_name


def test_corpora_are_shipped():
    assert {"phantom", "radiology-mini", "natural-mini"} <= set(shipped_names("corpora"))


def test_quick_grid_screens_radimagenet_against_imagenet_in_24_cells():
    task, _ = load_task("breast")
    grid, _ = load_grid("quick")
    cells = expand(grid, task)
    assert len(cells) == 24 and {c.source for c in cells} == {"imagenet", "radimagenet"}
    assert {c.backbone for c in cells} == {"ResNet50", "DenseNet121"}
    assert {(c.training.image_size, c.training.epochs, c.fold) for c in cells} == {(128, 10, 0)}
    assert "not the paper's protocol" in grid.description
