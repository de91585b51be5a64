"""Adapters and the manifest, on generated layouts and on the real sets in ../shared/data."""

import numpy as np
import pytest
from PIL import Image

from radbench.config.load import load_task
from radbench.config.schema import TaskConfig
from radbench.data.manifest import build_manifest, subset
from radbench.errors import DataError


def folders_task(**data) -> TaskConfig:
    return TaskConfig.model_validate({
        "name": "t", "data": {"adapter": "folders", **data},
        "classes": {"names": ["NORMAL", "PNEUMONIA"], "positive": "PNEUMONIA"},
        "split": {"scheme": "kfold"}})


def png(path, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)


def test_busi_real_counts_merge_and_masks(busi_root):
    task, _ = load_task("breast")
    manifest = build_manifest(task, busi_root)
    frame = manifest.frame
    assert frame["raw_label"].value_counts().to_dict() == {"benign": 437, "normal": 133,
                                                          "malignant": 210}
    assert manifest.counts() == {"benign": 570, "malignant": 210}  # normal merged into benign
    assert (frame["masks"] != "").all()
    two_masks = frame["masks"].str.contains(";")
    assert two_masks.sum() == 17  # 16 benign + 1 malignant with _mask_1.png
    assert manifest.per_image_groups and any("own group" in n for n in manifest.notes)


def test_busi_accepts_the_parent_folder(busi_root):
    task, _ = load_task("breast")
    assert len(build_manifest(task, busi_root.parent).frame) == 780


def test_ddti_real_drops_unlabelled_and_groups_by_case(shared_data):
    root = shared_data / "ddti_thyroid"
    if not root.is_dir():
        pytest.skip("DDTI not in the shared data")
    task, _ = load_task("thyroid")
    manifest = build_manifest(task, root)
    # 656 rows: 198 unlabelled, 2 naming files the release does not ship (362_1(1), 362_1(2))
    assert manifest.dropped == {"None": 198, "(missing file)": 2}
    assert len(manifest.frame) == 656 - 198 - 2
    assert manifest.counts() == {"benign": 70, "malignant": 386}
    assert any("row 490" in n and "row 491" in n for n in manifest.notes)
    assert manifest.frame.loc[manifest.frame["case_id"] == "cropped/100_1(2).png",
                              "group"].item() == "100"
    assert not manifest.per_image_groups


def test_folders_any_depth_with_group_pattern(tmp_path):
    for part in ("train", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            for person in range(3):
                png(tmp_path / part / cls / f"person{person}_{cls}_{part}.jpeg")
    manifest = build_manifest(folders_task(group_pattern=r"^person(\d+)_"), tmp_path)
    assert len(manifest.frame) == 12
    assert set(manifest.frame["group"]) == {"0", "1", "2"}
    assert manifest.counts() == {"NORMAL": 6, "PNEUMONIA": 6}


def test_folders_class_and_group_levels(tmp_path):
    for cls in ("NCP", "CP", "Normal"):
        for patient in range(2):
            png(tmp_path / cls / f"{cls}{patient}" / "scan1" / "0001.png")
    task = TaskConfig.model_validate({
        "name": "t", "data": {"adapter": "folders", "class_level": 0, "group_level": 1,
                              "drop_labels": ["Normal"]},
        "classes": {"names": ["CP", "NCP"], "positive": "NCP"}, "split": {"scheme": "kfold"}})
    manifest = build_manifest(task, tmp_path)
    assert manifest.counts() == {"CP": 2, "NCP": 2}
    assert set(manifest.frame["group"]) == {"CP/CP0", "CP/CP1", "NCP/NCP0", "NCP/NCP1"}
    assert manifest.dropped == {"Normal": 2}


def test_unknown_label_is_named(tmp_path):
    png(tmp_path / "NORMAL" / "a.png")
    png(tmp_path / "PNEUMONIA" / "b.png")
    png(tmp_path / "COVID" / "c.png")
    with pytest.raises(DataError, match="'COVID'.*class_map"):
        build_manifest(folders_task(), tmp_path)


def test_class_without_images(tmp_path):
    png(tmp_path / "NORMAL" / "a.png")
    with pytest.raises(DataError, match="'PNEUMONIA'.*no images"):
        build_manifest(folders_task(), tmp_path)


def test_group_pattern_must_match_every_file(tmp_path):
    """Every miss is counted (not only the first), a few are shown, and the groups the pattern
    makes of the other files are previewed."""
    for n in range(3):
        png(tmp_path / "NORMAL" / f"person1_{n}.png")
    png(tmp_path / "NORMAL" / "person2_a.png")
    for name in ("scan.png", "scan2.png", "x_person3.png", "y.png"):
        png(tmp_path / "PNEUMONIA" / name)
    with pytest.raises(DataError) as caught:
        build_manifest(folders_task(group_pattern=r"^person(\d+)_"), tmp_path)
    message = str(caught.value)
    assert "matches no patient id in 4 of 8 file name(s), e.g. PNEUMONIA/scan.png, " \
           "PNEUMONIA/scan2.png, PNEUMONIA/x_person3.png;" in message
    assert "makes 2 group(s), e.g. '1' (3 images), '2' (1 images)" in message


def csv_task(**columns) -> TaskConfig:
    return TaskConfig.model_validate({
        "name": "t", "data": {"adapter": "csv", "csv": "list.csv", "columns": columns},
        "classes": {"names": ["benign", "malignant"], "positive": "malignant"},
        "split": {"scheme": "kfold"}})


def test_csv_manifest(tmp_path):
    png(tmp_path / "img" / "a.png")
    png(tmp_path / "img" / "b.png")
    (tmp_path / "list.csv").write_text("file,dx,pid\nimg/a.png,benign,7\nimg/b.png,malignant,8\n")
    manifest = build_manifest(csv_task(path="file", label="dx", group="pid"), tmp_path)
    assert manifest.frame[["case_id", "label", "group", "y"]].values.tolist() == [
        ["img/a.png", "benign", "7", 0], ["img/b.png", "malignant", "8", 1]]


def test_csv_saved_with_a_byte_order_mark_reads_its_first_column(tmp_path):
    """Issue 27: Excel's "CSV UTF-8" starts with a BOM, which was read as part of the first
    column's name and blamed as a missing column."""
    png(tmp_path / "img" / "a.png")
    png(tmp_path / "img" / "b.png")
    (tmp_path / "list.csv").write_bytes(
        "\ufefffile,dx,pid\nimg/a.png,benign,7\nimg/b.png,malignant,8\n".encode("utf-8"))
    manifest = build_manifest(csv_task(path="file", label="dx", group="pid"), tmp_path)
    assert manifest.frame["case_id"].tolist() == ["img/a.png", "img/b.png"]


def test_csv_missing_file_names_the_row(tmp_path):
    png(tmp_path / "a.png")
    (tmp_path / "list.csv").write_text("path,label\na.png,benign\nmissing.png,malignant\n")
    with pytest.raises(DataError, match=r"list.csv row 3: image \S*missing.png not found"):
        build_manifest(csv_task(), tmp_path)


def test_csv_path_leaving_the_root(tmp_path):
    png(tmp_path / "a.png")
    (tmp_path / "list.csv").write_text("path,label\n../a.png,benign\n")
    with pytest.raises(DataError, match="leaves the dataset root"):
        build_manifest(csv_task(), tmp_path)


def test_csv_missing_column(tmp_path):
    (tmp_path / "list.csv").write_text("file,label\n")
    with pytest.raises(DataError, match="missing column"):
        build_manifest(csv_task(), tmp_path)


def test_missing_root():
    with pytest.raises(DataError, match="dataset folder not found"):
        build_manifest(folders_task(), "/nonexistent/data")


def test_subset_is_stratified_and_keeps_groups_whole(busi_root):
    task, _ = load_task("breast")
    full = build_manifest(task, busi_root)
    small = subset(full, 100, seed=0)
    assert 80 <= len(small.frame) <= 120
    share = small.frame["y"].mean()
    assert abs(share - full.frame["y"].mean()) < 0.06
    assert subset(full, 100, seed=0).frame.equals(small.frame)  # deterministic


def test_subset_takes_exactly_n_or_says_why(tmp_path):
    """--max-images N gives N images when whole groups allow it; when they cannot add up
    to N, the note says so."""
    import pandas as pd

    from radbench.data.manifest import Manifest

    def manifest(group_sizes: list[int]) -> Manifest:
        rows = []
        for g, size in enumerate(group_sizes):
            rows += [{"case_id": f"g{g}_{k}", "path": f"g{g}_{k}.png", "group": f"g{g}",
                      "y": g % 2, "label": "b" if g % 2 else "a"} for k in range(size)]
        return Manifest(tmp_path, pd.DataFrame(rows), notes=[])

    exact = subset(manifest([1] * 300), 200, seed=0)
    assert len(exact.frame) == 200 and exact.frame["y"].sum() == 100
    assert exact.notes[-1] == ("subset: 200 of 300 images (--max-images 200, whole groups, "
                               "stratified)")
    lumpy = subset(manifest([4] * 50), 30, seed=0)  # groups of 4 cannot make 15 per class
    assert len(lumpy.frame) == 24 and lumpy.frame.groupby("group").size().eq(4).all()
    assert "could not add up to 30 exactly" in lumpy.notes[-1]
    assert subset(manifest([4] * 50), 30, seed=0).frame.equals(lumpy.frame)  # seeded
