"""A lab's own data: given test sets (train/ and test/ folders, a CSV split column), a batch size
that fits the data, label conflicts and the dry run's plan."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radbench.config.schema import TaskConfig
from radbench.data.manifest import build_manifest
from radbench.data.prepare import prepare
from radbench.errors import DataError
from tests.conftest import run_cli


def picture(path: Path, seed: int, size: int = 64) -> None:
    """A textured gray picture of its own (no two seeds alike: no near-duplicates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(path)


def split_folders(root: Path, counts: dict[str, dict[str, int]]) -> Path:
    """root/<part>/<class>/p<k>_<n>.png, two images per patient k."""
    seed = 0
    for part, per_class in counts.items():
        for label, n in per_class.items():
            for i in range(n):
                seed += 1
                picture(root / part / label / f"{part}{label}p{i // 2}_{i}.png", seed)
    return root


def test_task_init_keeps_a_test_folder_as_the_test_set(tmp_path):
    """train/ and test/ folders: task init writes split scheme given and says so; in every fold
    the test part is exactly the test/ folder, and no test image is in train or val."""
    root = split_folders(tmp_path / "cxr", {"train": {"NORMAL": 40, "PNEUMONIA": 40},
                                            "test": {"NORMAL": 12, "PNEUMONIA": 12}})
    out = tmp_path / "cxr.yaml"
    result = run_cli("task", "init", "cxr", "--data", str(root), "--group-pattern",
                     r"^(\w+?p\d+)_", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "split: given: the data's own test part is kept as the test set, never re-split " \
           "(parts found: test 24, train 80); 5-fold cross-validation inside train + val" \
           in result.stderr
    task = TaskConfig.model_validate(__import__("yaml").safe_load(out.read_text()))
    assert task.split.scheme == "given" and task.split.folds == 5
    prepared = prepare(task, root)
    frame = prepared.manifest.frame
    released_test = set(frame.loc[frame["path"].str.startswith("test/"), "case_id"])
    assert len(released_test) == 24
    for fold in range(5):
        parts = prepared.fold_split(fold).groupby("part")["case_id"].agg(set)
        assert parts["test"] == released_test
        assert not released_test & (parts["train"] | parts["val"])
        group = frame.set_index("case_id")["group"]
        assert not {group[c] for c in parts["train"]} & {group[c] for c in parts["val"]}
    vals = [set(prepared.fold_split(f).query("part == 'val'")["case_id"]) for f in range(5)]
    assert set().union(*vals) == set(frame["case_id"]) - released_test  # k-fold inside
    assert any("split: given, the release's own test part (24 images) fixed in every fold, "
               "never re-split; 5-fold cross-validation inside the release's train + val"
               in note for note in prepared.manifest.notes)


def test_class_folders_above_the_part_folders_are_read_too(tmp_path):
    """<class>/<part>/image: the part folder is never taken for the class."""
    for n, (label, part) in enumerate([(c, p) for c in ("a", "b") for p in
                                       ("Training", "Testing", "validation") for _ in range(3)]):
        picture(tmp_path / label / part / f"{n}.png", n)
    spec = TaskConfig.model_validate({
        "name": "t", "data": {"adapter": "folders"}, "classes": {"names": ["a", "b"],
                                                                 "positive": "b"},
        "split": {"scheme": "given"}})
    manifest = build_manifest(spec, tmp_path)
    assert sorted(set(manifest.frame["label"])) == ["a", "b"]
    assert manifest.frame["release_part"].value_counts().to_dict() == {
        "train": 6, "test": 6, "val": 6}
    splits = prepare(spec, tmp_path).splits  # one fold: the release's own val part
    assert splits["fold"].unique().tolist() == [0]
    assert (splits.merge(manifest.frame, on="case_id").eval("part == release_part")).all()


def csv_task(root: Path, rows: list[tuple[str, str, str]], folds: int = 1) -> TaskConfig:
    lines = ["path,label,split"]
    for n, (label, part, name) in enumerate(rows):
        picture(root / "img" / name, 100 + n)
        lines.append(f"img/{name},{label},{part}")
    (root / "list.csv").write_text("\n".join(lines) + "\n")
    return TaskConfig.model_validate({
        "name": "t", "data": {"adapter": "csv", "csv": "list.csv",
                              "columns": {"split": "split"}},
        "classes": {"names": ["neg", "pos"], "positive": "pos"},
        "split": {"scheme": "given", "folds": folds}})


def test_a_csv_split_column_gives_the_test_part_and_val_is_drawn_from_train(tmp_path):
    rows = [(label, part, f"{part}_{label}_{i}.png") for part, n in (("train", 20), ("test", 6))
            for label in ("neg", "pos") for i in range(n)]
    task = csv_task(tmp_path, rows)
    prepared = prepare(task, tmp_path)
    parts = prepared.fold_split(0).merge(prepared.manifest.frame, on="case_id")
    assert (parts.query("release_part == 'test'")["part"] == "test").all()
    assert parts.query("release_part == 'train'")["part"].value_counts().to_dict() == {
        "train": 35, "val": 5}  # fractions 0.7/0.1: val is one of 8 stratified chunks of train
    assert set(parts.query("part == 'val'")["label"]) == {"neg", "pos"}


def test_a_csv_split_value_that_names_no_part_is_one_line(tmp_path):
    rows = [("neg", "train", "a.png"), ("pos", "holdout", "b.png")]
    with pytest.raises(DataError, match=r"list.csv row 3: column split is 'holdout'; expected "
                                        r"train, val \(or validation\) or test"):
        build_manifest(csv_task(tmp_path, rows), tmp_path)


def test_a_given_split_without_a_test_part_is_refused(tmp_path):
    rows = [(label, "train", f"{label}{i}.png") for label in ("neg", "pos") for i in range(4)]
    with pytest.raises(DataError, match="the release has no test part"):
        prepare(csv_task(tmp_path, rows), tmp_path)


def test_task_init_fits_the_batch_to_80_training_images(tmp_path):
    """80 training images and the paper's batch 256 would be one step per epoch: task init
    writes 8 (10 steps) and says why; the dry run prints the steps."""
    root = split_folders(tmp_path / "d", {"train": {"benign": 40, "malignant": 40},
                                          "test": {"benign": 10, "malignant": 10}})
    out = tmp_path / "d.yaml"
    result = run_cli("task", "init", "d", "--data", str(root), "--out", str(out))
    assert result.returncode == 0, result.stderr
    config = __import__("yaml").safe_load(out.read_text())
    assert config["split"] == {"scheme": "given", "folds": 5, "fractions": [0.7, 0.1, 0.2],
                               "seed": 0}
    train = 64  # 5-fold inside the 80: a fold's val is a fifth of them
    assert config["training"]["batch_size"] == 4
    assert (f"batch size 4: {train} training images give 16 optimizer steps per epoch (the "
            f"paper's 256 would give 1, fewer than 10)") in result.stderr
    assert "# batch_size 4, not the paper's 256" in out.read_text()
    dry = run_cli("run", str(out), "--grid", "full", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    text = dry.stdout + dry.stderr
    assert re.search(r"d fold 0: train 64, val 16, test 20 \(test: benign 10, malignant 10\); "
                     r"batch 4: 16 step\(s\)/epoch, \d+ in \d+ epochs", text), text
    assert "warning: d:" not in text
    assert re.search(r"kept models: the best cell's of each task and source by validation AUC "
                     r"\(\d model\(s\), at most \d+ MB", text), text
    smoke = run_cli("run", str(out), "--grid", "smoke", "--dry-run")  # it fixes batch 32
    assert "warning: d: batch size 32 on 64 training images gives 2 optimizer step(s) per " \
           "epoch, 4 in all (expected at least 10 per epoch and 100 in all); the grid fixes " \
           "batch_size 32: set it to 4 under the grid's overrides" in smoke.stdout + smoke.stderr


def test_the_dry_run_warns_of_one_step_per_epoch_and_thin_test_parts(tmp_path):
    from radbench.data.plan import fitting_batch_size, fold_counts, plan_lines

    assert fitting_batch_size(80, 256) == 8 and fitting_batch_size(5000, 256) == 256
    assert fitting_batch_size(15, 256) == 2
    rows = [(label, part, f"{part}_{label}_{i}.png") for part, n in (("train", 40), ("test", 4))
            for label in ("neg", "pos") for i in range(n)]
    task = csv_task(tmp_path, rows)
    prepared = prepare(task, tmp_path)
    from radbench.data.check import check_dataset

    (thin,) = [f for f in check_dataset(task, tmp_path).findings if f.kind == "underpowered"]
    assert thin.level == "warning" and thin.message.startswith(
        "underpowered test part(s): fold 0: 4 neg, 4 pos (fewer than 10 of a class")
    counts = fold_counts(prepared.splits, prepared.manifest.frame, ["neg", "pos"])
    lines, warnings = plan_lines("t", counts, {256: 30}, [0])
    assert lines == ["  t fold 0: train 70, val 10, test 8 (test: neg 4, pos 4); batch 256: 1 "
                     "step(s)/epoch, 30 in 30 epochs"]
    assert warnings == [
        "warning: t: batch size 256 on 70 training images gives 1 optimizer step(s) per epoch, "
        "30 in all (expected at least 10 per epoch and 100 in all); set training.batch_size to "
        "4 in the task YAML (or batch_size under the grid's overrides)",
        "warning: t: underpowered test part(s): fold 0: 4 neg, 4 pos (fewer than 10 of a class; "
        "an AUC on so few cases has a CI tens of points wide, so the report marks these cells "
        "underpowered; use more images, fewer folds or a holdout split)"]


def test_the_same_picture_in_two_classes_stops_data_check(tmp_path):
    rows = [(label, part, f"{part}_{label}_{i}.png") for part, n in (("train", 8), ("test", 3))
            for label in ("neg", "pos") for i in range(n)]
    task = csv_task(tmp_path, rows)
    twin = tmp_path / "img" / "train_pos_0.png"
    twin.write_bytes((tmp_path / "img" / "test_neg_1.png").read_bytes())
    (tmp_path / "t.yaml").write_text(__import__("yaml").safe_dump(task.model_dump(mode="json")))
    result = run_cli("data", "check", str(tmp_path / "t.yaml"), "--data", str(tmp_path))
    assert result.returncode == 2
    assert ("error: the same picture in two classes (identical pixels): img/test_neg_1.png "
            "(class neg) and img/train_pos_0.png (class pos)") in result.stdout
    run = run_cli("run", str(tmp_path / "t.yaml"), "--data", str(tmp_path), "--grid", "smoke",
                  "--dry-run")
    assert run.returncode == 2 and "the same picture in two classes" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    dropped = TaskConfig.model_validate(task.model_dump() | {
        "data": task.data.model_dump() | {"label_conflicts": "drop"}})
    prepared = prepare(dropped, tmp_path)
    assert set(prepared.manifest.frame["case_id"]).isdisjoint(
        {"img/test_neg_1.png", "img/train_pos_0.png"})
    assert prepared.manifest.dropped["(label conflict)"] == 2
    assert any("label_conflicts: drop left out 2 image(s)" in n for n in prepared.manifest.notes)
