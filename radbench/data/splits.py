"""Patient-grouped, label-stratified splits (scikit-learn's StratifiedGroupKFold).

kfold: fold k tests on the k-th of `folds` outer parts; the rest is split again so that val is
`fractions[1]` of all images. holdout: the data are cut into 20 stratified group chunks of about
5 % each, allotted to train/val/test by `fractions` (rounded to 5 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from radbench.config.schema import SplitSpec
from radbench.data.manifest import Manifest
from radbench.errors import DataError
from radbench.ids import stable_hash

PARTS = ("train", "val", "test")
HOLDOUT_CHUNKS = 20


def _chunks(y: np.ndarray, groups: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    # scikit-learn refuses more splits than the largest class has images: fewer chunks then
    n = max(2, min(n, len(np.unique(groups)), int(np.bincount(np.asarray(y, dtype=int)).max())))
    splitter = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(y)), y, groups)]


def _kfold(frame: pd.DataFrame, spec: SplitSpec) -> pd.DataFrame:
    y, groups = frame["y"].to_numpy(), frame["group"].to_numpy()
    val_share = spec.fractions[1] / (spec.fractions[0] + spec.fractions[1])
    inner_splits = max(2, int(round(1 / val_share)))
    rows = []
    for fold, test in enumerate(_chunks(y, groups, spec.folds, spec.seed)):
        part = np.full(len(frame), "train", dtype=object)
        part[test] = "test"
        rest = np.flatnonzero(part == "train")
        val = rest[_chunks(y[rest], groups[rest], inner_splits, spec.seed + 1 + fold)[0]]
        part[val] = "val"
        rows.append(pd.DataFrame({"case_id": frame["case_id"], "fold": fold, "part": part}))
    return pd.concat(rows, ignore_index=True)


def _holdout(frame: pd.DataFrame, spec: SplitSpec) -> pd.DataFrame:
    y, groups = frame["y"].to_numpy(), frame["group"].to_numpy()
    chunks = _chunks(y, groups, HOLDOUT_CHUNKS, spec.seed)
    n = len(chunks)
    n_test = max(1, int(round(spec.fractions[2] * n)))
    n_val = max(1, int(round(spec.fractions[1] * n)))
    part = np.full(len(frame), "train", dtype=object)
    for index, chunk in enumerate(chunks):
        if index < n_test:
            part[chunk] = "test"
        elif index < n_test + n_val:
            part[chunk] = "val"
    return pd.DataFrame({"case_id": frame["case_id"], "fold": 0, "part": part})


def _given(frame: pd.DataFrame, spec: SplitSpec) -> pd.DataFrame:
    """The release's test part, fixed in every fold. Val: with one fold, the release's val
    part, or (without one) a patient-grouped, stratified share of train (`fractions[1]` of
    train + val); with `folds` k > 1, the k-th of k grouped, stratified parts of train + val."""
    parts = frame["release_part"]
    unknown = sorted(set(parts.dropna()) - set(PARTS))
    if parts.isna().any() or unknown:
        lacking = frame.loc[parts.isna() | parts.isin(unknown), "case_id"]
        shown = ", ".join(lacking.iloc[:3])
        raise DataError(f"split scheme 'given': {len(lacking)} image(s) have no part of "
                        f"{list(PARTS)} from the release, e.g. {shown} (expected a folder named "
                        f"train, val or test in each image's path, or a CSV split column "
                        f"(data.columns.split); or use kfold or holdout for this data)")
    if not (parts == "test").any():
        raise DataError("split scheme 'given': the release has no test part (expected a folder "
                        "named test, or test rows in the CSV split column)")
    y, groups = frame["y"].to_numpy(), frame["group"].to_numpy()
    fixed = parts.to_numpy(dtype=object)
    rest = np.flatnonzero(fixed != "test")
    if spec.folds == 1 and (parts == "val").any():
        return pd.DataFrame({"case_id": frame["case_id"], "fold": 0, "part": fixed})
    if spec.folds == 1:
        val_share = spec.fractions[1] / (spec.fractions[0] + spec.fractions[1])
        chunks = [_chunks(y[rest], groups[rest], max(2, int(round(1 / val_share))), spec.seed)[0]]
    else:
        if len(np.unique(groups[rest])) < spec.folds:
            raise DataError(f"split scheme 'given': {len(np.unique(groups[rest]))} group(s) in "
                            f"train + val are too few for {spec.folds} folds")
        chunks = _chunks(y[rest], groups[rest], spec.folds, spec.seed)
    rows = []
    for fold, chunk in enumerate(chunks):
        part = np.where(fixed == "test", "test", "train").astype(object)
        part[rest[chunk]] = "val"
        rows.append(pd.DataFrame({"case_id": frame["case_id"], "fold": fold, "part": part}))
    return pd.concat(rows, ignore_index=True)


def _published(manifest: Manifest, rows: pd.DataFrame, folds: int) -> pd.DataFrame:
    """The authors' folds and parts, for the rows whose image is in the manifest."""
    found = sorted(rows["fold"].unique())
    if found != list(range(folds)):
        raise DataError(f"published split: folds {[f + 1 for f in found]} in the CSVs, but the "
                        f"task's split.folds is {folds}")
    expanded = rows.assign(case_id=rows["name"].map(manifest.published_names)).explode("case_id")
    kept = expanded[expanded["case_id"].isin(set(manifest.frame["case_id"]))]
    return kept[["case_id", "fold", "part"]].reset_index(drop=True)


def straddling_groups(splits: pd.DataFrame, manifest: Manifest) -> int:
    """How many patient (or near-duplicate) groups have images in two parts of some fold."""
    merged = splits.merge(manifest.frame[["case_id", "group"]], on="case_id")
    spread = merged.groupby(["fold", "group"])["part"].nunique()
    return int(spread[spread > 1].index.get_level_values("group").nunique())


def check_splits(splits: pd.DataFrame, manifest: Manifest, class_names: list[str],
                 grouped: bool = True) -> None:
    """No group in two parts of a fold (when `grouped`: radbench's own splits); every part of
    every fold holds every class (y is 0/1 for two classes, the class's position for more)."""
    merged = splits.merge(manifest.frame[["case_id", "group", "y"]], on="case_id")
    for fold, rows in merged.groupby("fold"):
        spread = rows.groupby("group")["part"].nunique()
        if grouped and (spread > 1).any():
            raise DataError(f"split fold {fold}: group {spread[spread > 1].index[0]!r} is in two "
                            f"parts (internal error in splitting)")
        needed = {0, 1} if len(class_names) == 2 else set(range(len(class_names)))
        for part in PARTS:
            labels = set(rows.loc[rows["part"] == part, "y"])
            if labels != needed:
                have = ", ".join(class_names[int(v)] if len(class_names) > 2 else
                                 (class_names[1] if v else class_names[0]) for v in sorted(labels))
                raise DataError(
                    f"split fold {fold}: the {part} part has {(rows['part'] == part).sum()} "
                    f"image(s) of class(es) [{have}] only; it needs "
                    f"{'both' if len(needed) == 2 else f'all {len(needed)}'} classes: use more "
                    f"images (--max-images) or fewer folds"
                )


MIN_GROUPS_PER_CLASS = 3  # one each for train, validation and test


def thin_classes(frame: pd.DataFrame) -> list[str]:
    """A sentence for each class with too few patient groups to appear in the train,
    validation and test parts of a split."""
    found = []
    for label, rows in frame.groupby("label"):
        groups = rows["group"].nunique()
        if groups < MIN_GROUPS_PER_CLASS:
            found.append(f"class {label!r} has {groups} patient group(s) ({len(rows)} image(s)); "
                         f"a split needs at least {MIN_GROUPS_PER_CLASS} per class (train, "
                         f"validation and test each hold every class): add images of it or "
                         f"merge it into another class (data.class_map)")
    return found


def make_splits(manifest: Manifest, spec: SplitSpec, class_names: list[str],
                published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Columns case_id, fold, part (train/val/test); deterministic from `spec.seed`, or the
    authors' rows (`published`, radbench.data.published) for the published scheme."""
    frame = manifest.frame
    if spec.scheme == "published":
        if published is None:
            raise DataError("split scheme 'published' needs the authors' split files")
        splits = _published(manifest, published, spec.folds)
        check_splits(splits, manifest, class_names, grouped=False)
        return splits
    if spec.scheme != "given":
        thin = thin_classes(frame)
        if thin:
            raise DataError(f"{manifest.root}: {thin[0]}")
        if frame["group"].nunique() < spec.n_folds * 3:
            raise DataError(
                f"{manifest.root}: {frame['group'].nunique()} group(s) are too few for a "
                f"{spec.scheme} split with {spec.n_folds} fold(s) (expected at least "
                f"{spec.n_folds * 3}: use more images or fewer folds)"
            )
    if spec.scheme == "given":  # the release may hold a patient in two parts: said in a note
        splits = _given(frame, spec)
        check_splits(splits, manifest, class_names, grouped=False)
        return splits
    splits = _kfold(frame, spec) if spec.scheme == "kfold" else _holdout(frame, spec)
    check_splits(splits, manifest, class_names)
    return splits


def split_id(splits: pd.DataFrame) -> str:
    return stable_hash(splits.values.tolist())


UNUSED = "unused"  # split.csv's part of training images a train_fraction < 1 left out


def train_subset(split: pd.DataFrame, groups: pd.Series, fraction: float, seed: int,
                 fold: int) -> pd.DataFrame:
    """`split` (case_id, row, part, y) with all but `fraction` of its train images marked
    UNUSED: whole groups (`groups`: case_id -> patient group), per class (a group counts under
    its most frequent label) about `fraction` of the class's train images, at least one group
    per class. Groups are taken in an order drawn once from (`seed`, `fold`), so the sets are
    nested: every smaller fraction's set is part of every larger one's."""
    if fraction >= 1.0:
        return split
    train = split[split["part"] == "train"].assign(group=lambda f: f["case_id"].map(groups))
    if train["group"].isna().any():
        train["group"] = train["group"].fillna(train["case_id"])
    per_group = train.groupby("group").agg(size=("y", "size"),
                                           y=("y", lambda v: v.value_counts().idxmax()))
    rng = np.random.default_rng([seed, fold, 20221])
    order = per_group.index.to_numpy()[rng.permutation(len(per_group))]
    kept: list = []
    for label in sorted(per_group["y"].unique()):
        mine = [g for g in order if per_group.loc[g, "y"] == label]
        target = fraction * per_group.loc[mine, "size"].sum()
        taken = 0
        for group in mine:  # a prefix of `mine`: the sets nest
            if taken and taken >= target:
                break
            kept.append(group)
            taken += per_group.loc[group, "size"]
    used = set(train.loc[train["group"].isin(kept), "case_id"])
    out = split.copy()
    out.loc[(out["part"] == "train") & ~out["case_id"].isin(used), "part"] = UNUSED
    return out
