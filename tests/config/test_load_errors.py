"""Bad configs fail with one line naming the file, the key and what is allowed."""

from pathlib import Path

import pytest
import yaml

from radbench.config.load import load_grid, load_task
from radbench.errors import ConfigError

GRID = {"name": "g", "sources": ["scratch"], "backbones": ["ResNet50"],
        "settings": [{"freeze": "freezeall", "lr": [0.01]}]}


def write(tmp_path: Path, data) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


def error_of(loader, path) -> str:
    with pytest.raises(ConfigError) as caught:
        loader(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_unknown_backbone_names_the_file_key_and_registered_values(tmp_path):
    """Backbone names belong to the models' registry: checked when the grid expands, before
    anything is written, with the grid's file and key named."""
    from radbench.grid import expand

    grid, _ = load_grid(write(tmp_path, {**GRID, "backbones": ["ResNet50", "ResNet51"]}))
    message = error_of(lambda _: expand(grid, load_task("breast")[0]), None)
    assert message.startswith(f"{tmp_path / 'config.yaml'}: key 'backbones.1': unknown backbone "
                              f"'ResNet51'; expected one of InceptionV3, ResNet50")


def test_unknown_adapter_names_the_file_key_and_registered_values(tmp_path):
    from radbench.data.manifest import build_manifest

    task = load_task("breast")[0].model_dump()
    task["data"]["adapter"] = "bussi"
    loaded, _ = load_task(write(tmp_path, task))
    message = error_of(lambda _: build_manifest(loaded, tmp_path), None)
    assert message.startswith(f"{tmp_path / 'config.yaml'}: key 'data.adapter': unknown adapter "
                              f"'bussi'; expected one of busi, ddti")


def test_unknown_key_lists_allowed_keys(tmp_path):
    message = error_of(load_grid, write(tmp_path, {**GRID, "learning_rate": 1}))
    assert "unknown key 'learning_rate'" in message and "settings" in message


def test_unknown_nested_key(tmp_path):
    settings = [{"freeze": "freezeall", "lr": [0.01], "lrs": [1]}]
    message = error_of(load_grid, write(tmp_path, {**GRID, "settings": settings}))
    assert "settings.0.lrs" in message and "freeze, lr" in message


def test_wrong_type(tmp_path):
    message = error_of(load_grid, write(tmp_path, {**GRID, "seeds": "zero"}))
    assert "key 'seeds'" in message


def test_unknown_freeze_setting(tmp_path):
    settings = [{"freeze": "unfreezetop5", "lr": [0.01]}]
    message = error_of(load_grid, write(tmp_path, {**GRID, "settings": settings}))
    assert "settings.0.freeze" in message and "unfreezetop10" in message


def test_unknown_source(tmp_path):
    message = error_of(load_grid, write(tmp_path, {**GRID, "sources": ["imagenet21k"]}))
    assert "imagenet21k" in message and "file:PATH" in message


def test_axis_values_are_validated(tmp_path):
    message = error_of(load_grid, write(tmp_path, {**GRID, "axes": {"normalization": ["imagenet"]}}))
    assert "normalization" in message


def test_yaml_syntax_error_names_the_line(tmp_path):
    message = error_of(load_grid, write(tmp_path, "name: g\n  bad: [\n"))
    assert "line 2" in message


def test_not_a_mapping(tmp_path):
    assert "mapping" in error_of(load_grid, write(tmp_path, "- a\n- b\n"))


def test_missing_file_and_unknown_name():
    assert "no such" in error_of(load_task, "missing/task.yaml")
    message = error_of(load_task, "nosuchtask")
    assert "breast" in message  # lists the shipped tasks


def test_task_positive_must_be_a_class(tmp_path):
    task = yaml.safe_load(Path("configs/tasks/breast.yaml").read_text())
    task["classes"]["positive"] = "cancer"
    message = error_of(load_task, write(tmp_path, task))
    assert "cancer" in message and "classes" in message


def test_kfold_fractions_must_match_folds(tmp_path):
    task = yaml.safe_load(Path("configs/tasks/breast.yaml").read_text())
    task["split"]["folds"] = 4
    assert "1/4" in error_of(load_task, write(tmp_path, task))


def test_class_map_target_must_be_a_class(tmp_path):
    task = yaml.safe_load(Path("configs/tasks/breast.yaml").read_text())
    task["data"]["class_map"] = {"normal": "healthy"}
    assert "healthy" in error_of(load_task, write(tmp_path, task))


def test_an_axis_must_be_a_training_setting_a_grid_may_vary(tmp_path):
    message = error_of(load_grid, write(tmp_path, {**GRID, "axes": {"jit_compile": [True]}}))
    assert "key 'axes'" in message and "'jit_compile' is not a training setting a grid may " \
        "vary; expected one of image_size, batch_size, epochs, normalization, interpolation, " \
        "augment, precision, batchnorm_momentum, batchnorm_calibration, lr_schedule, select_on, " \
        "head_dropout, train_fraction" in message
    message = error_of(load_grid, write(tmp_path, {**GRID, "axes": {"image_size": [8]}}))
    assert "greater than or equal to 16" in message


def test_the_training_settings_derive_from_one_declaration():
    from radbench.config.schema import LATER_SETTINGS, TrainingOverrides
    from radbench.cellspec import SCENARIO_KEYS

    assert SCENARIO_KEYS == ["task", "source", "backbone", "freeze", "lr", "seed", "image_size",
                             "batch_size", "epochs", "normalization", "interpolation", "augment",
                             "precision", "batchnorm_momentum", "batchnorm_calibration",
                             "lr_schedule", "select_on", "head_dropout", "train_fraction"]
    assert list(TrainingOverrides.model_fields) == [
        "image_size", "batch_size", "epochs", "normalization", "interpolation", "augment",
        "precision", "batchnorm_momentum", "batchnorm_calibration", "lr_schedule", "select_on",
        "head_dropout", "train_fraction", "jit_compile"]
    assert LATER_SETTINGS == {"precision": "float32", "batchnorm_momentum": None,
                              "batchnorm_calibration": False, "lr_schedule": "constant",
                              "select_on": "val_loss", "head_dropout": 0.5,
                              "train_fraction": 1.0, "jit_compile": None}


def test_a_boolean_for_a_number_is_said_once(tmp_path):
    """YAML's `yes` where a number belongs: the reason names the boolean, and the line does
    not repeat it as '(got True)'."""
    message = error_of(load_grid, write(tmp_path, {**GRID, "overrides": {"epochs": True}}))
    assert message == (f"{tmp_path / 'config.yaml'}: key 'overrides.epochs': expected a number "
                       f"or text, not a boolean (true/false/yes/no)")


def test_yaml_merge_keys_are_read_and_own_keys_still_may_not_repeat(tmp_path):
    """Issue 27: a valid YAML merge key (`<<: *defaults`) was refused with a parser message.
    Merged keys are defaults the mapping's own keys override; an own key twice is refused."""
    text = ("name: g\nsources: [scratch]\nbackbones: [ResNet50]\n"
            "settings:\n  - &one {freeze: freezeall, lr: [0.01]}\n"
            "  - {<<: *one, freeze: unfreezeall}\n"
            "overrides:\n  <<: {image_size: 64, epochs: 3}\n  epochs: 2\n")
    grid, _ = load_grid(write(tmp_path, text))
    assert [(s.freeze, s.lr) for s in grid.settings] == [("freezeall", [0.01]),
                                                         ("unfreezeall", [0.01])]
    assert (grid.overrides.image_size, grid.overrides.epochs) == (64, 2)
    twice = text.replace("  epochs: 2\n", "  epochs: 2\n  epochs: 4\n")
    assert "key 'epochs' appears twice in one mapping" in error_of(load_grid,
                                                                  write(tmp_path, twice))
