"""The authors' own splits (`split: {scheme: published}`): the train/val/test CSVs the
RadImageNet authors published per task (`<task>/dataframe/*.csv` in BMEII-AI/RadImageNet), each
row mapped to the user's copy of the public release.

Fold k is the authors' fold k; its parts are taken as published (a fold's val images are test
images of other folds, as the authors made them). Labels come from the CSVs. Where the CSVs live:
`radbench run --splits DIR`, else $RADBENCH_SPLITS, else `radimagenet_splits/` in radbench's data
folder, where `radbench data fetch radimagenet-splits` puts them. Each entry of PUBLISHED lists
its files with their MD5, so a damaged or edited copy is refused.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import pandas as pd

from radbench.config.schema import TaskConfig
from radbench.data.arrays import volume_shape
from radbench.data.fetch import default_dest, download
from radbench.data.records import RawRecord, locator
from radbench.errors import DataError
from radbench.ids import file_md5

REPOSITORY = "https://raw.githubusercontent.com/BMEII-AI/RadImageNet"
SPLITS_FOLDER = "radimagenet_splits"
PARTS = ("train", "val", "test")
_FILE = re.compile(r"(?:^|_)(train|val|test)(?:_fold(\d+))?\.csv$")
PATH_COLUMNS = ("img_dir", "filename", "dir")
LABEL_COLUMNS = ("label", "acl_label")


@dataclass(frozen=True)
class PublishedSplit:
    """One task's published CSVs: where they are in the authors' repository and their MD5s."""

    folder: str  # <folder>/dataframe/ in the repository
    commit: str
    # file name -> MD5 of a checked copy; None: not checked here, the file is taken as the
    # commit serves it (a raw URL at a commit does not change) and its MD5 goes into the notes
    md5: dict[str, str | None]
    labels: dict[str, str] = field(default_factory=dict)  # CSV label -> class, where they differ

    def url(self, name: str) -> str:
        return f"{REPOSITORY}/{self.commit}/{self.folder}/dataframe/{name}"

    @property
    def folds(self) -> int:
        """How many folds the files make (1 for one train/val/test split)."""
        return len({int(_FILE.search(name).group(2) or 1) for name in self.md5})

    @property
    def unchecked(self) -> list[str]:
        return [name for name, md5 in self.md5.items() if md5 is None]


def _unchecked(prefix: str, folds: int = 0) -> dict[str, None]:
    """File names of a split whose copy was not checked here: PREFIX{train,val,test}[_foldK].csv"""
    return {f"{prefix}{part}{f'_fold{k}' if folds else ''}.csv": None
            for part in PARTS for k in (range(1, folds + 1) if folds else [0])}


def _md5s(text: str) -> dict[str, str]:
    return dict(line.split()[::-1] for line in text.strip().splitlines())


PUBLISHED: dict[str, PublishedSplit] = {  # radbench task name -> its published split
    "thyroid": PublishedSplit("thyroid", "a12fb7600a45caf36a3f0a089e904287975f8885", _md5s("""
        b2e723a0c92ef73b0fddaebec03b6ef0 thyroid_test_fold1.csv
        0c81f8357c1ffc643224ddaf601b4365 thyroid_test_fold2.csv
        479031633611b2765fdf6073ad73c286 thyroid_test_fold3.csv
        3b6d4efe7fed2b77d542ed9c1012d5f0 thyroid_test_fold4.csv
        06a659bf9e0f79dac83a4f27d634ca8d thyroid_test_fold5.csv
        9fa5093923852021dd47f576e50db503 thyroid_train_fold1.csv
        485a853e5285e3c7b319cdee80115c2f thyroid_train_fold2.csv
        6ec77ceac4416745c0d395943e2191b8 thyroid_train_fold3.csv
        cb90ad0015de9fba834c43353061980c thyroid_train_fold4.csv
        e17d73cea8ec3e178a3c24459ffbf3c8 thyroid_train_fold5.csv
        fc0ecbe6a8bcd20e5cc5b6b40b4b0497 thyroid_val_fold1.csv
        0faa64379382929cd1e2cca823422165 thyroid_val_fold2.csv
        18a54cb0c8000e4e6bef27edda649eaa thyroid_val_fold3.csv
        ad89854d33be2fed6b309ba588559f7b thyroid_val_fold4.csv
        458b5928619a5fb202b8431903e5d21b thyroid_val_fold5.csv""")),
    "breast": PublishedSplit("breast", "a12fb7600a45caf36a3f0a089e904287975f8885", _md5s("""
        9d1f45da9a16762e725b2e6e58f7e4a8 breast_test_fold1.csv
        5bb953088953fd630694807fb3e4a420 breast_test_fold2.csv
        882f4229c65832a05125be5f90d234a2 breast_test_fold3.csv
        997896fa978ebdeb34fb606cd0412b00 breast_test_fold4.csv
        01c8da7ad2bd2d3f6b4e577a9ee7af40 breast_test_fold5.csv
        819a918630132ce8cd170d057556becd breast_train_fold1.csv
        940a529c36de161c5d55af9507f26d28 breast_train_fold2.csv
        66ce644d31f88217761cac30e5e297be breast_train_fold3.csv
        46f675a6c758802af215f0d959ad9949 breast_train_fold4.csv
        2aaf7ccf18992a916c5bbc4f688b1004 breast_train_fold5.csv
        5dfb414abbb5e3cbaa3860bf534da8bf breast_val_fold1.csv
        551b4cc34596dd096502381027765b4f breast_val_fold2.csv
        3b765a39866bbec78698d6e7a37d7a3d breast_val_fold3.csv
        e14cdc2051690ae52a659e39b7df2821 breast_val_fold4.csv
        c45d0a05fe6d481868b1610c2d859aad breast_val_fold5.csv""")),
    "acl": PublishedSplit("acl", "a12fb7600a45caf36a3f0a089e904287975f8885", _md5s("""
        8d1bdd448e21746b372b1fbe3a133100 test_fold1.csv
        3bc95044e7403e5ee0605ca1611799d5 test_fold2.csv
        d02cfffc2bc1c08264ab77902f5914e9 test_fold3.csv
        42c4de87a4f214165517ae9c6f42e460 test_fold4.csv
        c097c9c84ed7dfdb2106aba00887179f test_fold5.csv
        9e27125edeb4db2ace687126f17ebb2f train_fold1.csv
        3d0edb5f3ab4666e43c53bbe4450f12e train_fold2.csv
        884413e81df6ba0b7a292f8d1d4bb0f4 train_fold3.csv
        e0d32fbff49138340481a4bad4e5bb1b train_fold4.csv
        befc52f5373aa2d0642c09072b669186 train_fold5.csv
        798e061062bbd6796756faa7d6f92c02 val_fold1.csv
        e2f39ad208d3502cf3b600dac1eb8861 val_fold2.csv
        04a23b41e8a63126973d064271b2c37e val_fold3.csv
        7201ca7e3fb5f8d811db872ec987ed92 val_fold4.csv
        4a601c65cd709469b82b5fb54c93237e val_fold5.csv"""), labels={"yes": "tear", "no": "no_tear"}),
    # the larger files: names, columns and labels from the heads described in the test data's
    # README (radimagenet_splits); their MD5s were not checked here
    "meniscus": PublishedSplit("meniscus", "49a8889984ea29dcadbd8c199b2a8e8b8eebb1fa",
                               _unchecked("meniscus_", folds=5),
                               labels={"p": "tear", "n": "no_tear"}),
    "pneumonia": PublishedSplit("pneumonia", "49a8889984ea29dcadbd8c199b2a8e8b8eebb1fa",
                                _unchecked(""), labels={"yes": "pneumonia", "no": "no_pneumonia"}),
    "covid19": PublishedSplit("covid19", "c5c10a0f6cee5db9766fafe603f5612174cf88ec",
                              _unchecked("covid19_")),
    "sarscov2": PublishedSplit("sarscovid2", "49a8889984ea29dcadbd8c199b2a8e8b8eebb1fa",
                               _unchecked("sarscovid2_")),
}
# paper tasks whose split the authors did not publish in full
NOT_PUBLISHED = {
    "hemorrhage": "the authors' repository holds only hemorrhage_val.csv (no train or test "
                  "part), so their split cannot be rebuilt",
}


def published_split(task: str) -> PublishedSplit:
    if task in NOT_PUBLISHED:
        raise DataError(f"task {task}: no published split: {NOT_PUBLISHED[task]}; use split "
                        f"scheme holdout or kfold")
    if task not in PUBLISHED:
        raise DataError(f"task {task}: no published split known (known: "
                        f"{', '.join(PUBLISHED)}); use split scheme kfold or holdout")
    return PUBLISHED[task]


def splits_root(override: str | Path | None = None) -> Path:
    """--splits, else $RADBENCH_SPLITS, else radimagenet_splits/ in radbench's data folder."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("RADBENCH_SPLITS"):
        return Path(os.environ["RADBENCH_SPLITS"])
    return default_dest() / SPLITS_FOLDER


def fetch_splits(dest: Path | None = None, tasks: list[str] | None = None,
                 timeout: float = 30.0) -> list[Path]:
    """Download the published CSVs (MD5 checked, resumable) to DEST/<folder>/dataframe/."""
    root = Path(dest) if dest else splits_root()
    from radbench.writable import check_writable  # a read-only folder: one line, before the wait

    check_writable(root, "--dest" if dest else "splits folder (--dest or $RADBENCH_SPLITS)")
    paths = []
    for task in tasks or list(PUBLISHED):
        entry = published_split(task)
        for name, md5 in entry.md5.items():
            paths.append(download(entry.url(name), md5, root / entry.folder / "dataframe" / name,
                                  timeout))
    return paths


def published_files_present(task: str, root: Path) -> bool:
    """Whether any published CSV of `task` is under `root` (a partial or damaged copy is
    refused on reading, with the way to fetch it again)."""
    entry = published_split(task)
    return any((root / entry.folder / "dataframe" / name).is_file() for name in entry.md5)


def resolve_split(task: TaskConfig, splits_dir: str | Path | None = None
                  ) -> tuple[TaskConfig, list[str]]:
    """The split a run uses, and what to say of it. A task whose YAML says `scheme: published`
    with a `fallback` uses the published folds when their CSVs are found (`splits_root`), else
    its fallback scheme made by radbench, with a note saying so; any other task is returned as
    it is. Only wholly absent CSVs fall back: a partial or damaged copy stops the run."""
    split = task.split
    if split.scheme != "published":
        return task, []
    root = splits_root(splits_dir)
    if split.fallback is None or published_files_present(task.name, root):
        folds = published_split(task.name).folds  # an unknown task stops here
        return task.model_copy(update={"split": split.model_copy(update={"folds": folds})}), []
    made = split.model_copy(update={"scheme": split.fallback, "fallback": None})
    note = (f"split: the authors' published folds are not under {root} (`radbench data fetch "
            f"radimagenet-splits`, --splits DIR or $RADBENCH_SPLITS), so this run uses the "
            f"task's fallback, radbench's own {split.fallback} split: not the paper's folds")
    return task.model_copy(update={"split": made}), [note]


def read_published(task: str, root: Path) -> pd.DataFrame:
    """Every row of the task's published CSVs: name (as in the CSV), label (a class name),
    fold (0-based), part. A missing or changed file stops with the way to get it."""
    entry = published_split(task)
    folder = root / entry.folder / "dataframe"
    missing = [name for name in entry.md5 if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: the published split of {task} lacks {len(missing)} file(s) "
                        f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); run "
                        f"`radbench data fetch radimagenet-splits --dest {root}` or download "
                        f"them from {entry.url(missing[0]).rsplit('/', 1)[0]}/")
    rows = []
    for name, md5 in entry.md5.items():
        path = folder / name
        if md5 is not None and file_md5(path) != md5:
            raise DataError(f"{path}: MD5 {file_md5(path)}, the published file has {md5}; "
                            f"fetch it again")
        part, fold = _FILE.search(name).groups()
        rows += [{"name": image, "label": entry.labels.get(label, label),
                  "fold": int(fold or 1) - 1, "part": part, "where": f"{path} row {number}"}
                 for number, image, label in _csv_rows(path)]
    return pd.DataFrame(rows)


def _csv_rows(path: Path):
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        image = next((c for c in PATH_COLUMNS if c in header), None)
        label = next((c for c in LABEL_COLUMNS if c in header), None)
        if image is None or label is None:
            raise DataError(f"{path}: header {header}; expected an image column "
                            f"({', '.join(PATH_COLUMNS)}) and a label column "
                            f"({', '.join(LABEL_COLUMNS)})")
        for number, row in enumerate(reader, start=2):
            yield number, row[image].strip(), row[label].strip()


Matcher = Callable[[str], "list[RawRecord]"]
_CROP = re.compile(r"^(?P<image>.+)\(\d+\)$")  # DDTI crops: <case>_<image>(<nodule>)


def by_file_name(records: list[RawRecord]) -> Matcher:
    """The release's images that a CSV row names: the file at that path below `images/`
    (CC-CCII's `images/CP/3721/5654/0000.png` → `CP/3721/5654/0000.png`), else the file of
    that name (`images/benign (2).png` → `benign/benign (2).png`, `images/314_1.jpg` →
    `314_1.jpg`; RSNA's `images/<patientId>.png` → `<patientId>.dcm` by its stem), else the files of that name
    without suffix (the crops layout's `cropped/22_1.png`), else the crops of that image, one per
    nodule (`314_1(1).png`, `314_1(2).png`); [] when none."""
    by_tail: dict[str, list[RawRecord]] = {}  # the last 2-4 path components
    by_name: dict[str, list[RawRecord]] = {}
    by_stem: dict[str, list[RawRecord]] = {}
    by_image: dict[str, list[RawRecord]] = {}
    for record in records:
        if "::" in str(record.path):
            continue
        parts = PurePosixPath(str(record.path).replace("\\", "/")).parts
        for depth in range(2, min(len(parts), 4) + 1):
            by_tail.setdefault("/".join(parts[-depth:]), []).append(record)
        name = PurePosixPath(str(record.path)).name
        stem = PurePosixPath(name).stem
        by_name.setdefault(name, []).append(record)
        by_stem.setdefault(stem, []).append(record)
        crop = _CROP.match(stem)
        if crop:
            by_image.setdefault(crop["image"], []).append(record)

    def match(image: str) -> list[RawRecord]:
        name = PurePosixPath(image).name
        stem = PurePosixPath(name).stem
        # CC-CCII names a path (images/CP/3721/5654/0000.png): its part below images/
        tail = "/".join(PurePosixPath(image).parts[1:][-4:])
        for index, key, what in ((by_tail, tail if "/" in tail else None, "path"),
                                 (by_name, name, "name"), (by_stem, stem, "name")):
            found = index.get(key, [])
            if len(found) > 1:
                raise DataError(f"{image}: {len(found)} files of the release have that {what} "
                                f"({found[0].path}, {found[1].path}); cannot tell which is meant")
            if found:
                return found
        return sorted(by_image.get(stem, []), key=lambda r: str(r.path))

    return match


_KEY_SLICE = re.compile(r"(\d+)_sagittal_(\d+)(?:\.0*)?\.png$")


def mrnet_key_slices(root: Path) -> Matcher:
    """`images/0057_sagittal_11.000000.png` → sagittal slice 11 of exam 0057's volume, in the
    release's train/ or valid/ folder; grouped by exam."""
    def match(image: str) -> list[RawRecord]:
        found = _KEY_SLICE.search(image)
        if not found:
            return []
        exam, index = found.group(1).zfill(4), int(found.group(2))
        for part in ("train", "valid"):
            volume = root / part / "sagittal" / f"{exam}.npy"
            if volume.is_file():
                if index >= volume_shape(volume)[0]:
                    return []
                return [RawRecord(locator(volume, index), "", f"{part}-{exam}")]
        return []

    return match
