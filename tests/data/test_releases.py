"""Each release adapter on files written in the release's exact layout, and on the real sets."""

import numpy as np
import pytest
from PIL import Image

from radbench.config.load import load_task
from radbench.data.decode import load_mask, load_rgb
from radbench.data.manifest import build_manifest
from radbench.data.mrnet import central_slices
from radbench.data.prepare import prepare
from radbench.errors import DataError
from tests.data import releases


def task(name: str, **data):
    config, _ = load_task(name)
    return config.model_copy(update={"data": config.data.model_copy(update=data)}) if data else config


def test_ddti_release_tirads_threshold_groups_and_outline_masks(tmp_path):
    root = releases.ddti_release(tmp_path / "ddti", {1: "2", 2: "4a", 3: "3", 4: "5", 5: ""})
    manifest = build_manifest(task("thyroid"), root)
    frame = manifest.frame.set_index("path")
    assert manifest.counts() == {"benign": 2, "malignant": 4}  # 1_1, 3_1 | 2_1, 2_2, 4_1, 4_2
    assert frame.loc["2_2.jpg", "label"] == "malignant" and frame.loc["2_2.jpg", "group"] == "2"
    assert manifest.dropped == {"": 1}
    mask = load_mask([root / frame.loc["1_1.jpg", "masks"]], 60)  # 60x40 image -> 60x60
    box = np.zeros((40, 60), np.uint8)
    box[5:26, 10:31] = 1  # the polygon (10,5)-(30,25), edges included
    expected = np.asarray(Image.fromarray(box * 255).resize((60, 60), Image.NEAREST)) > 127
    np.testing.assert_array_equal(mask, expected.astype(np.uint8))


def test_ddti_threshold_is_the_class_map(tmp_path):
    root = releases.ddti_release(tmp_path / "ddti", {1: "3", 3: "4a", 5: "4b"})
    shifted = task("thyroid", class_map={"2": "benign", "3": "benign", "4a": "benign",
                                         "4b": "malignant", "4c": "malignant", "5": "malignant"})
    assert build_manifest(shifted, root).counts() == {"benign": 2, "malignant": 1}


def test_ddti_outline_outside_the_image(tmp_path):
    root = releases.ddti_release(tmp_path / "ddti", {1: "2"}, outline=[
        {"x": 10, "y": 5}, {"x": 90, "y": 5}, {"x": 30, "y": 25}])
    with pytest.raises(DataError, match=r"1.xml: image 1: outline point \(90.0, 5.0\) lies "
                                        r"outside the 60x40 image"):
        load_mask([str(root / "1.xml") + "::1"], 16)


def test_mrnet_central_sagittal_slices_grouped_by_exam(tmp_path):
    root = releases.mrnet(tmp_path / "mrnet", {"train": {0: 1, 1: 0, 2: 1}, "valid": {1130: 0}})
    acl = task("acl", slices=3)
    manifest = build_manifest(acl, root)
    frame = manifest.frame
    assert len(frame) == 12 and frame["group"].nunique() == 4
    assert set(frame.loc[frame["group"] == "train-0000", "path"]) == {
        f"train/sagittal/0000.npy::{k}" for k in (2, 3, 4)}
    assert manifest.counts() == {"no_tear": 6, "tear": 6}
    slice_3 = load_rgb(root / "train/sagittal/0000.npy::3", 16)
    assert slice_3.shape == (16, 16, 3) and slice_3[8, 8, 0] == 30
    assert central_slices(7, 3) == [2, 3, 4] and central_slices(2, 3) == [0, 1]
    # the report names the central-slice rule as a deviation from the paper
    assert any(n.startswith("not the paper's images: the study used the authors' annotated key "
                            "slices") for n in manifest.notes)
    assert central_slices(24, 1) == [12]


def test_mrnet_needs_a_target(tmp_path):
    root = releases.mrnet(tmp_path / "mrnet", {"train": {0: 1}})
    with pytest.raises(DataError, match="needs data.target, one of acl, meniscus, abnormal"):
        build_manifest(task("acl", target=None), root)


def test_rsna_pneumonia_any_positive_box_and_patient_groups(tmp_path):
    root = releases.rsna_pneumonia(tmp_path / "rsna", {"a": [0], "b": [1, 1], "c": [0], "d": [1]})
    manifest = build_manifest(task("pneumonia"), root)
    labels = dict(zip(manifest.frame["group"], manifest.frame["label"]))
    assert labels == {"a": "no_pneumonia", "b": "pneumonia", "c": "no_pneumonia", "d": "pneumonia"}
    assert load_rgb(manifest.absolute(manifest.frame["path"][0]), 16).shape == (16, 16, 3)


def test_rsna_ich_groups_by_dicom_patient_and_three_windows(tmp_path):
    root = releases.rsna_ich(tmp_path / "ich", {"1a": ("P1", 1), "2b": ("P1", 1),
                                                 "3c": ("P2", 0), "4d": ("P3", 0)})
    hemorrhage = task("hemorrhage")
    manifest = build_manifest(hemorrhage, root)
    frame = manifest.frame.set_index("path")
    assert frame.loc["stage_2_train/ID_2b.dcm", "group"] == "P1"
    assert manifest.counts() == {"hemorrhage": 2, "no_hemorrhage": 2}
    windows = [(w.center, w.width) for w in hemorrhage.data.windows]
    image = load_rgb(root / "stage_2_train/ID_1a.dcm", 24, windows=windows)
    assert not (image[..., 0] == image[..., 2]).all()  # brain and bone windows differ


def test_medmnist_official_split(tmp_path):
    releases.medmnist(tmp_path / "m" / "breastmnist.npz", counts=(20, 8, 8))
    prepared = prepare(task("breastmnist"), tmp_path / "m")
    parts = prepared.splits["part"].value_counts().to_dict()
    assert parts == {"train": 20, "val": 8, "test": 8}
    assert prepared.manifest.frame["path"][0] == "breastmnist.npz::train/0"
    assert prepared.manifest.frame["label"][0] == "malignant"  # MedMNIST label 0


def test_cc_ccii_class_patient_scan_folders(tmp_path):
    for cls, patients in (("NCP", ["p1", "p2"]), ("CP", ["p3", "p4"]), ("Normal", ["p5"])):
        for patient in patients:
            for scan in ("s1", "s2"):
                for n in range(2):
                    releases.gray(tmp_path / cls / patient / scan / f"{n}.png", seed=n)
    manifest = build_manifest(task("sarscov2"), tmp_path)
    assert manifest.counts() == {"CP": 8, "NCP": 8} and manifest.dropped == {"Normal": 4}
    assert set(manifest.frame["group"]) == {"NCP/p1", "NCP/p2", "CP/p3", "CP/p4"}


def test_real_head_ct(shared_data):
    manifest = build_manifest(task("head_ct"), shared_data / "head_ct_hemorrhage")
    assert manifest.counts() == {"hemorrhage": 100, "normal": 100}


@pytest.mark.parametrize("name, parts", [
    ("breastmnist", {"train": 546, "val": 78, "test": 156}),
    ("pneumoniamnist", {"train": 4708, "val": 524, "test": 624}),
])
def test_real_medmnist(shared_data, name, parts):
    manifest = build_manifest(task(name), shared_data / "medmnist")
    assert manifest.frame["release_part"].value_counts().to_dict() == parts
