"""The published splits of the larger paper tasks (meniscus, pneumonia, covid19, sarscov2), whose
CSVs are not in the test data: small CSVs in the authors' format (headers and first rows as the
test data's README describes them) against fake releases of each adapter's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radbench.config.load import load_task
from radbench.data.prepare import prepare
from radbench.data.published import PUBLISHED, published_split, read_published
from radbench.errors import DataError
from radbench.runner import with_split_scheme
from tests.data import releases
from tests.data.test_published import fold_counts


def write_csv(root: Path, folder: str, name: str, header: str, rows: list[str]) -> None:
    path = root / folder / "dataframe" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (20, 20), np.uint8)).save(path)


def published(task_name: str, root: Path, splits: Path, **kwargs):
    task = with_split_scheme(load_task(task_name)[0], "published")
    return prepare(task, root, cache_dir=root.parent / "cache", splits_dir=splits, **kwargs)


# meniscus: the README's first test/val rows, ten exams, one key slice each; label p = tear
EXAMS = [("0012", 13), ("0675", 19), ("1146", 16), ("0381", 20), ("1141", 19), ("0571", 12),
         ("1135", 5), ("0808", 4), ("0082", 9), ("0671", 8)]


def test_meniscus_takes_the_authors_key_slices_in_five_folds(tmp_path):
    splits = tmp_path / "splits"
    label = {exam: "p" if i % 2 else "n" for i, (exam, _) in enumerate(EXAMS)}
    for k in range(5):
        test = EXAMS[2 * k: 2 * k + 2]
        val = [EXAMS[(2 * k + 2) % 10], EXAMS[(2 * k + 3) % 10]]
        train = [e for e in EXAMS if e not in test + val]
        for part, exams in (("train", train), ("val", val), ("test", test)):
            write_csv(splits, "meniscus", f"meniscus_{part}_fold{k + 1}.csv", "img_dir,label",
                      [f"images/{e}_sagittal_{s}.000000.png,{label[e]}" for e, s in exams])
    root = releases.mrnet(tmp_path / "mrnet", {
        "train": {int(e): 0 for e, _ in EXAMS if int(e) < 1130},
        "valid": {int(e): 0 for e, _ in EXAMS if int(e) >= 1130}}, slices=24)
    prepared = published("meniscus", root, splits)
    assert prepared.task.split.n_folds == 5 and fold_counts(prepared) == [(6, 2, 2)] * 5
    frame = prepared.manifest.frame.set_index("path")
    # the CSV's labels (the release's own say 0 for every exam)
    assert frame.loc["train/sagittal/0675.npy::19", "label"] == "tear"
    assert frame.loc["valid/sagittal/1146.npy::16", "label"] == "no_tear"
    assert prepared.manifest.counts() == {"no_tear": 5, "tear": 5}
    assert any("without a recorded MD5" in note for note in prepared.manifest.notes)


def test_pneumonia_maps_rsna_patient_ids_in_one_split(tmp_path):
    splits = tmp_path / "splits"
    ids = ["0004cfab-14fd-4e49-80ba-63a80b6bddd6", "00313ee0-9eaa-42f4-b0ab-c148ed3241cd",
           "00322d4d-1c29-4943-afc9-b6754be640eb", "a1", "a2", "a3",
           "011d6f51-b732-4d45-a84d-90477325ef2d", "v2",
           "0100515c-5204-4f31-98e0-f35e4b00004a", "01027bc3-dc40-4165-a6c3-d6be2cb7ca34"]
    targets = [0, 0, 0, 1, 1, 1, 0, 1, 1, 0]
    parts = {"train": range(0, 6), "val": range(6, 8), "test": range(8, 10)}
    for part, index in parts.items():
        write_csv(splits, "pneumonia", f"{part}.csv", ",filename,Target,label",
                  [f"{n},images/{ids[i]}.png,{targets[i]},{'yes' if targets[i] else 'no'}"
                   for n, i in enumerate(index)])
    # the release's own labels differ on purpose: the CSV's label is the one taken
    root = releases.rsna_pneumonia(tmp_path / "rsna", {pid: [0] for pid in ids + ["extra"]})
    prepared = published("pneumonia", root, splits)
    assert published_split("pneumonia").folds == 1 and prepared.task.split.n_folds == 1
    assert fold_counts(prepared) == [(6, 2, 2)]
    assert prepared.manifest.counts() == {"no_pneumonia": 5, "pneumonia": 5}
    test = prepared.fold_split(0).query("part == 'test'")
    assert sorted(test["case_id"]) == [f"stage_2_train_images/{ids[8]}.dcm",
                                       f"stage_2_train_images/{ids[9]}.dcm"]


def test_covid19_and_cc_ccii_match_names_and_paths(tmp_path):
    splits = tmp_path / "splits"
    # covid19: file names (Bozhou_P20-00_0131.png) in <class>/<patient>/ folders
    rows = {"train": [("P1-00_0273", "positive"), ("P1-01_0272", "positive"),
                      ("N1-00_0001", "negative"), ("N1-01_0002", "negative")],
            "val": [("P11-00_0313", "positive"), ("N2-00_0001", "negative")],
            "test": [("P20-00_0131", "positive"), ("N3-00_0001", "negative")]}
    root = tmp_path / "covid"
    for part, items in rows.items():
        write_csv(splits, "covid19", f"covid19_{part}.csv", ",filename,label",
                  [f"{n},images/Bozhou_{name}.png,{label}" for n, (name, label) in
                   enumerate(items)])
        for n, (name, label) in enumerate(items):  # a picture of its own each (no conflict)
            png(root / label / name.split("-")[0] / f"Bozhou_{name}.png",
                10 * list(rows).index(part) + n)
    prepared = published("covid19", root, splits)
    assert fold_counts(prepared) == [(4, 2, 2)]
    assert set(prepared.manifest.frame["group"]) == {
        "positive/P1", "negative/N1", "positive/P11", "negative/N2", "positive/P20", "negative/N3"}
    # sarscov2 (CC-CCII): every scan numbers its slices 0000.png...: matched by path; Normal
    # rows are dropped as the task drops that class
    rows = {"train": ["CP/3783/5727/0008.png", "CP/3783/5727/0009.png", "NCP/10/100/0008.png",
                      "NCP/10/100/0009.png", "Normal/7/70/0008.png"],
            "val": ["CP/1082/3127/0031.jpg", "NCP/11/110/0031.png"],
            "test": ["CP/3721/5654/0000.png", "NCP/12/120/0000.png"]}
    root = tmp_path / "ccccii"
    for part, paths in rows.items():
        write_csv(splits, "sarscovid2", f"sarscovid2_{part}.csv", ",imgpath,pid,label,filename",
                  [f"{n},{p},{p.split('/')[0]}_{p.split('/')[1]},{p.split('/')[0]},images/{p}"
                   for n, p in enumerate(paths)])
        for n, path in enumerate(paths):
            png(root / path, 10 * list(rows).index(part) + n)
    prepared = published("sarscov2", root, splits)
    assert fold_counts(prepared) == [(4, 2, 2)]
    assert prepared.manifest.counts() == {"CP": 4, "NCP": 4}
    assert any("1 image(s) labelled 'Normal'" in note for note in prepared.manifest.notes)
    test = prepared.fold_split(0).query("part == 'test'")
    assert sorted(test["case_id"]) == ["CP/3721/5654/0000.png", "NCP/12/120/0000.png"]


def test_hemorrhage_has_no_published_split(tmp_path):
    with pytest.raises(DataError, match="only hemorrhage_val.csv .* use split scheme holdout"):
        read_published("hemorrhage", tmp_path)
    assert set(PUBLISHED) == {"thyroid", "breast", "acl", "meniscus", "pneumonia", "covid19",
                              "sarscov2"}
