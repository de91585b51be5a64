"""Splits: grouped by patient, stratified by label, deterministic, checked."""

import pandas as pd
import pytest

from radbench.config.load import load_task
from radbench.config.schema import SplitSpec, TaskConfig
from radbench.data.manifest import Manifest, build_manifest
from radbench.data.splits import check_splits, make_splits, split_id
from radbench.errors import DataError


def manifest_of(n_groups: int, per_group: int = 3, positive_every: int = 3) -> Manifest:
    rows = []
    for group in range(n_groups):
        y = int(group % positive_every == 0)
        for image in range(per_group):
            rows.append({"case_id": f"g{group}_{image}.png", "path": f"g{group}_{image}.png",
                         "raw_label": str(y), "label": "pos" if y else "neg", "y": y,
                         "group": f"g{group}", "masks": ""})
    return Manifest(root=".", frame=pd.DataFrame(rows))


def test_kfold_parts_groups_and_fractions():
    manifest = manifest_of(200)
    splits = make_splits(manifest, SplitSpec(scheme="kfold"), ["neg", "pos"])
    assert sorted(splits["fold"].unique()) == [0, 1, 2, 3, 4]
    merged = splits.merge(manifest.frame, on="case_id")
    for fold, rows in merged.groupby("fold"):
        assert rows.groupby("group")["part"].nunique().max() == 1
        shares = rows["part"].value_counts(normalize=True)
        assert shares["test"] == pytest.approx(0.2, abs=0.03)
        assert shares["val"] == pytest.approx(0.1, abs=0.03)
        assert rows.groupby("part")["y"].mean().between(0.25, 0.42).all()  # stratified (1/3)
    tests = merged[merged["part"] == "test"]
    assert tests["case_id"].is_unique and len(tests) == len(manifest.frame)  # each case tested once


def test_holdout_75_10_15():
    manifest = manifest_of(400)
    splits = make_splits(manifest, SplitSpec(scheme="holdout", fractions=(0.75, 0.10, 0.15)),
                         ["neg", "pos"])
    shares = splits["part"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.75, abs=0.03)
    assert shares["val"] == pytest.approx(0.10, abs=0.03)
    assert shares["test"] == pytest.approx(0.15, abs=0.03)
    assert set(splits["fold"]) == {0}


def test_deterministic_from_the_seed():
    manifest = manifest_of(100)
    a = make_splits(manifest, SplitSpec(scheme="kfold", seed=1), ["neg", "pos"])
    b = make_splits(manifest, SplitSpec(scheme="kfold", seed=1), ["neg", "pos"])
    c = make_splits(manifest, SplitSpec(scheme="kfold", seed=2), ["neg", "pos"])
    assert split_id(a) == split_id(b) != split_id(c)


def test_too_few_groups_is_a_clear_error():
    with pytest.raises(DataError, match="too few"):
        make_splits(manifest_of(8), SplitSpec(scheme="kfold"), ["neg", "pos"])


def test_a_part_with_one_class_is_a_clear_error():
    manifest = manifest_of(40, positive_every=40)  # a single positive group
    with pytest.raises(DataError, match=r"class 'pos' has 1 patient group\(s\) \(3 image\(s\)\); "
                                        r"a split needs at least 3 per class"):
        make_splits(manifest, SplitSpec(scheme="kfold"), ["neg", "pos"])
    manifest = manifest_of(40, positive_every=14)  # three positive groups, five folds
    with pytest.raises(DataError, match="needs both classes"):
        make_splits(manifest, SplitSpec(scheme="kfold"), ["neg", "pos"])


def test_check_catches_a_group_in_two_parts():
    manifest = manifest_of(60)
    splits = make_splits(manifest, SplitSpec(scheme="kfold"), ["neg", "pos"])
    first = splits.index[(splits["fold"] == 0) & (splits["case_id"] == "g0_0.png")][0]
    splits.loc[first, "part"] = "test" if splits.loc[first, "part"] != "test" else "train"
    with pytest.raises(DataError, match="two parts"):
        check_splits(splits, manifest, ["neg", "pos"])


def test_ddti_patients_never_straddle_parts(shared_data):
    from radbench.runner import with_split_scheme

    task = with_split_scheme(load_task("thyroid")[0], "kfold")  # radbench's own split
    manifest = build_manifest(task, shared_data / "ddti_thyroid")
    splits = make_splits(manifest, task.split, task.classes.names)
    merged = splits.merge(manifest.frame, on="case_id")
    assert merged.groupby(["fold", "group"])["part"].nunique().max() == 1


def _fold(n_groups: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A fold of 40 patients (1 to 4 images each, a quarter positive) and the group of each."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows, groups = [], {}
    for g in range(n_groups):
        label = int(g % 4 == 0)
        for i in range(int(rng.integers(1, 5))):
            case = f"p{g}-{i}"
            groups[case] = f"p{g}"
            rows.append({"case_id": case, "row": len(rows), "part": "train" if g < 30 else
                         ("val" if g < 35 else "test"), "y": label})
    return pd.DataFrame(rows), pd.Series(groups)


def test_train_fractions_are_nested_group_whole_and_stratified():
    from radbench.data.splits import UNUSED, train_subset

    split, groups = _fold()
    train = split[split["part"] == "train"]
    sets = {}
    for fraction in (0.05, 0.1, 0.25, 0.5, 1.0):
        subset = train_subset(split, groups, fraction, seed=0, fold=0)
        assert subset[subset["part"] != UNUSED].drop(columns="part").equals(
            split[subset["part"] != UNUSED].drop(columns="part"))  # nothing else changes
        assert (subset["part"] == "val").sum() == (split["part"] == "val").sum()
        assert (subset["part"] == "test").sum() == (split["part"] == "test").sum()
        used = subset[subset["part"] == "train"]
        sets[fraction] = set(used["case_id"])
        for label in (0, 1):  # each class: about the fraction of its images, at least one group
            total = (train["y"] == label).sum()
            mine = (used["y"] == label).sum()
            assert mine >= 1 and (mine >= fraction * total or fraction == 1.0)
            assert mine < fraction * total + 4  # one group of at most 4 images over the target
        whole = {groups[c] for c in used["case_id"]}
        assert sets[fraction] == {c for c in train["case_id"] if groups[c] in whole}
    ordered = [sets[f] for f in (0.05, 0.1, 0.25, 0.5, 1.0)]
    assert all(a <= b for a, b in zip(ordered, ordered[1:]))
    assert ordered[-1] == set(train["case_id"])
    other = train_subset(split, groups, 0.25, seed=1, fold=0)
    assert set(other.loc[other["part"] == "train", "case_id"]) != sets[0.25]
