"""The authors' published splits (`--split published`): every fold of thyroid, breast and ACL
built from ../shared/data/radimagenet_splits against fake releases holding exactly the images the
CSVs name, and against the real BUSI and DDTI copies; counts per fold as that folder's README
gives them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radbench.config.load import load_task
from radbench.data.prepare import prepare
from radbench.data.published import PUBLISHED, fetch_splits, read_published
from radbench.errors import DataError
from radbench.runner import with_split_scheme
from tests.conftest import run_cli

# README of radimagenet_splits: per fold (train, val, test); distinct images per class
COUNTS = {
    "thyroid": ([(247, 30, 72), (244, 35, 70), (248, 32, 69), (253, 27, 69), (246, 34, 69)],
                {"benign": 61, "malignant": 288}),
    "breast": ([(561, 63, 156)] * 5, {"benign": 570, "malignant": 210}),
    "acl": ([(725, 88, 208), (732, 86, 203), (720, 88, 213), (739, 81, 201), (740, 85, 196)],
            {"no_tear": 452, "tear": 569}),
}

pytestmark = pytest.mark.xdist_group("published")  # its module fixture, built once


@pytest.fixture(scope="session")  # with its xdist_group: built once per test run
def splits(shared_data) -> Path:
    root = shared_data / "radimagenet_splits"
    if not root.is_dir():
        pytest.skip(f"the authors' split CSVs are not at {root}")
    return root


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 12), value, np.uint8)).save(path)


def fake_release(task: str, names: list[str], root: Path) -> Path:
    """A release in the adapter's own layout holding exactly the images `names` name."""
    stems = [Path(name).stem for name in names]
    if task == "breast":  # BUSI: Dataset_BUSI_with_GT/<class>/<class> (N).png
        for i, stem in enumerate(stems):
            _png(root / "Dataset_BUSI_with_GT" / stem.split(" (")[0] / f"{stem}.png", i % 250)
        for name in ("benign", "malignant", "normal"):
            (root / "Dataset_BUSI_with_GT" / name).mkdir(parents=True, exist_ok=True)
    elif task == "thyroid":  # DDTI release: <case>.xml beside <case>_<N>.jpg
        cases: dict[str, list[str]] = {}
        for stem in stems:
            case, number = stem.split("_")
            cases.setdefault(case, []).append(number)
            image = root / f"{stem}.jpg"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((12, 16), int(case) % 250, np.uint8)).save(image)
        box = json.dumps([{"points": [{"x": 2, "y": 2}, {"x": 10, "y": 2}, {"x": 10, "y": 8},
                                      {"x": 2, "y": 8}], "annotation": {},
                           "regionType": "freehand"}])
        for case, numbers in cases.items():
            marks = "".join(f"<mark><image>{n}</image><svg>{box}</svg></mark>" for n in numbers)
            tirads = 5 if int(case) % 3 == 0 else 3  # both classes under radbench's own rule
            (root / f"{case}.xml").write_text(f"<case><number>{case}</number><tirads>{tirads}"
                                              f"</tirads>{marks}</case>")
    else:  # MRNet: train/sagittal/<exam>.npy volumes deep enough for every key slice
        deepest: dict[str, int] = {}
        for stem in stems:
            exam, _, index = stem.split("_")
            deepest[exam] = max(deepest.get(exam, 0), int(float(index)))
        for exam, index in deepest.items():
            part = "valid" if int(exam) >= 1130 else "train"
            volume = root / part / "sagittal" / f"{exam}.npy"
            volume.parent.mkdir(parents=True, exist_ok=True)
            np.save(volume, np.arange(index + 1, dtype=np.uint8)[:, None, None]
                    * np.ones((1, 12, 12), np.uint8) + int(exam) % 7)
    return root


def fold_counts(prepared) -> list[tuple[int, int, int]]:
    table = prepared.splits.groupby(["fold", "part"]).size().unstack("part")
    return [tuple(int(table.loc[fold, part]) for part in ("train", "val", "test"))
            for fold in sorted(table.index)]


@pytest.mark.parametrize("task_name", sorted(COUNTS))
def test_every_published_fold_on_a_fake_release(task_name, splits, tmp_path):
    rows = read_published(task_name, splits)
    names = sorted(rows["name"].unique())
    root = fake_release(task_name, names, tmp_path / "release")
    task = with_split_scheme(load_task(task_name)[0], "published")
    prepared = prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=splits)
    per_fold, per_class = COUNTS[task_name]
    assert fold_counts(prepared) == per_fold
    assert prepared.manifest.counts() == per_class
    assert any("the RadImageNet authors' published folds" in n for n in prepared.manifest.notes)
    # each row's part is the authors': fold 2 (0-based 1), the first test row
    first = rows[(rows["fold"] == 1) & (rows["part"] == "test")].iloc[0]
    (case,) = prepared.manifest.published_names[first["name"]]
    split = prepared.fold_split(1).set_index("case_id")
    assert split.loc[case, "part"] == "test"
    assert split.loc[case, "y"] == int(first["label"] == task.classes.positive)


def test_acl_takes_the_authors_key_slices(splits, tmp_path):
    rows = read_published("acl", splits)
    root = fake_release("acl", sorted(rows["name"].unique()), tmp_path / "mrnet")
    task = with_split_scheme(load_task("acl")[0], "published")
    prepared = prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=splits)
    frame = prepared.manifest.frame.set_index("path")
    assert frame.loc["train/sagittal/1046.npy::10", "label"] == "tear"  # images/1046_sagittal_10
    assert frame.loc["train/sagittal/1046.npy::10", "group"] == "train-1046"
    assert prepared.manifest.frame["group"].nunique() == 498


def test_real_busi_gives_the_published_folds(splits, busi_root, tmp_path):
    task = with_split_scheme(load_task("breast")[0], "published")
    prepared = prepare(task, busi_root, cache_dir=tmp_path / "cache", splits_dir=splits)
    assert fold_counts(prepared) == COUNTS["breast"][0]
    assert prepared.manifest.counts() == COUNTS["breast"][1]
    # BUSI twins that the published folds put in two parts are counted, not regrouped
    assert any("in two parts of a fold (kept as published" in n
               for n in prepared.manifest.notes)
    # ...and no note claims otherwise (issue 28: "merged so that no set straddles" stood next
    # to the count of sets that do)
    (twins,) = [n for n in prepared.manifest.notes if n.startswith("near-duplicates:")]
    assert "this split is kept as published: a set may straddle its parts" in twins
    assert "so that no set straddles" not in " ".join(prepared.manifest.notes)


def test_real_ddti_crops_map_each_image_to_its_nodule_crops(splits, shared_data, tmp_path):
    root = shared_data / "ddti_thyroid"
    if not root.is_dir():
        pytest.skip(f"DDTI not found at {root}")
    task = with_split_scheme(load_task("thyroid")[0], "published")
    with pytest.raises(DataError, match=r"9 row\(s\) of the published split match no image of "
                                        r"this release, e.g. images/362_1.jpg"):
        prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=splits)
    prepared = prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=splits,
                       skip_bad=True)
    rows = read_published("thyroid", splits)
    assert prepared.manifest.dropped["(published row without an image)"] == 9
    names = prepared.manifest.published_names
    assert len(names) == rows["name"].nunique() - 9
    assert names["images/314_1.jpg"] == ["cropped/314_1(1).png", "cropped/314_1(2).png"]
    for fold, expected in enumerate(COUNTS["thyroid"][0]):  # every crop in its image's part
        published = rows[rows["fold"] == fold].set_index("name")["part"]
        split = prepared.fold_split(fold).set_index("case_id")["part"]
        for name, cases in names.items():
            assert {split[c] for c in cases} == {published[name]}


def test_missing_changed_and_unknown_split_files(splits, tmp_path):
    copy = tmp_path / "splits"
    shutil.copytree(splits / "thyroid", copy / "thyroid")
    (copy / "thyroid" / "dataframe" / "thyroid_val_fold3.csv").unlink()
    with pytest.raises(DataError, match=r"lacks 1 file\(s\) \(thyroid_val_fold3.csv\); run "
                                        r"`radbench data fetch radimagenet-splits"):
        read_published("thyroid", copy)
    shutil.copy(splits / "thyroid" / "dataframe" / "thyroid_val_fold2.csv",
                copy / "thyroid" / "dataframe" / "thyroid_val_fold3.csv")
    with pytest.raises(DataError, match=r"thyroid_val_fold3.csv: MD5 [0-9a-f]+, the published "
                                        r"file has 18a54cb0"):
        read_published("thyroid", copy)
    with pytest.raises(DataError, match="task head_ct: no published split known"):
        read_published("head_ct", copy)


def test_fetch_offline_is_one_line_naming_the_url_and_the_place(tmp_path):
    """No network here: the first download fails with where to get the file and where it goes
    (the real download code: radbench.data.fetch.download, resumable and MD5 checked)."""
    with pytest.raises(DataError, match=r"cannot download https://raw.githubusercontent.com/"
                                        r"BMEII-AI/RadImageNet/a12fb76.*/thyroid/dataframe/"
                                        r"thyroid_test_fold1.csv .*put it at "):
        fetch_splits(tmp_path, ["thyroid"], timeout=2)


def test_dry_run_lists_the_authors_folds(splits, tmp_path):
    rows = read_published("thyroid", splits)
    root = fake_release("thyroid", sorted(rows["name"].unique()), tmp_path / "ddti")
    done = run_cli("run", "thyroid", "--grid", "full", "--split", "published", "--splits",
                   str(splits), "--data", str(root), "--sources", "scratch", "--dry-run",
                   "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "task thyroid: 349 images (benign 61, malignant 288)" in done.stderr
    assert "published folds" in done.stderr
    listed = [line for line in done.stderr.splitlines() if line.startswith("  new")]
    assert len(listed) == 24 * 5 and {line.rsplit("fold=", 1)[1] for line in listed} == {
        "0", "1", "2", "3", "4"}
    assert "cost: 120 cell(s) to run" in done.stderr and "on one GPU" in done.stderr
    assert not (tmp_path / "run").exists()


def test_shipped_tasks_use_the_published_folds_when_found_else_their_fallback(splits, tmp_path):
    """thyroid's YAML: published, fallback kfold. With the CSVs: the authors' folds. Without
    them: radbench's kfold, said in a note, with the cell ids a kfold run had before the
    fallback key existed. A partial copy is refused, not replaced by the fallback."""
    rows = read_published("thyroid", splits)
    root = fake_release("thyroid", sorted(rows["name"].unique()), tmp_path / "ddti")
    task = load_task("thyroid")[0]
    found = prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=splits)
    assert found.task.split.scheme == "published" and fold_counts(found) == COUNTS["thyroid"][0]
    empty = tmp_path / "nothing"
    fallen = prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=empty)
    assert fallen.task.split.scheme == "kfold"
    assert any(f"not under {empty}" in n and "radbench's own kfold split: not the paper's "
               "folds" in n for n in fallen.manifest.notes)
    kfold = prepare(with_split_scheme(task, "kfold"), root, cache_dir=tmp_path / "cache")
    assert fallen.split_id == kfold.split_id
    assert fallen.task.model_dump() == kfold.task.model_dump()  # so the same cell ids
    partial = tmp_path / "partial"
    shutil.copytree(splits / "thyroid", partial / "thyroid")
    (partial / "thyroid" / "dataframe" / "thyroid_val_fold3.csv").unlink()
    with pytest.raises(DataError, match="lacks 1 file"):
        prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=partial)


def test_meniscus_takes_the_authors_key_slices_when_their_csvs_are_there(tmp_path):
    """Issue 28: meniscus, as ACL, defaults to the authors' published folds and key slices
    (their files `meniscus/dataframe/meniscus_{train,val,test}_foldK.csv`, `img_dir,label`
    with labels p/n, as the test data's README describes their head); without them it falls
    back to radbench's folds of 3 central slices per exam, said in a note."""
    exams = [f"{n:04d}" for n in range(20)]
    key = {exam: 4 + int(exam) % 9 for exam in exams}  # off-centre slices, not the middle
    label = {exam: "p" if int(exam) % 2 else "n" for exam in exams}
    folder = tmp_path / "splits" / "meniscus" / "dataframe"
    folder.mkdir(parents=True)
    for fold in range(1, 6):
        test = exams[(fold - 1) * 4:fold * 4]
        val = [e for e in exams if e not in test][:2]
        parts = {"test": test, "val": val,
                 "train": [e for e in exams if e not in test and e not in val]}
        for part, members in parts.items():
            (folder / f"meniscus_{part}_fold{fold}.csv").write_text("img_dir,label\n" + "".join(
                f"images/{e}_sagittal_{key[e]}.000000.png,{label[e]}\n" for e in members))
    names = [f"images/{e}_sagittal_{key[e]}.000000.png" for e in exams]
    root = fake_release("meniscus", names, tmp_path / "mrnet")
    for exam in exams:  # deeper volumes, so that the central slices differ from the key ones
        np.save(root / "train" / "sagittal" / f"{exam}.npy", np.zeros((24, 12, 12), np.uint8))
    (root / "train-meniscus.csv").write_text("".join(
        f"{e},{int(label[e] == 'p')}\n" for e in exams))
    task = load_task("meniscus")[0]
    found = prepare(task, root, cache_dir=tmp_path / "cache", splits_dir=tmp_path / "splits")
    assert found.task.split.scheme == "published"
    frame = found.manifest.frame.set_index("path")
    assert frame.loc["train/sagittal/0003.npy::7", "label"] == "tear"  # images/0003_sagittal_7
    assert len(frame) == 20 and fold_counts(found) == [(14, 2, 4)] * 5
    fallen = prepare(task, root, cache_dir=tmp_path / "cache2", splits_dir=tmp_path / "none")
    assert fallen.task.split.scheme == "kfold"
    assert sorted(fallen.manifest.frame["path"])[:3] == [
        "train/sagittal/0000.npy::11", "train/sagittal/0000.npy::12", "train/sagittal/0000.npy::13"]
    assert any("radbench's own kfold split: not the paper's folds" in n
               for n in fallen.manifest.notes)
