"""The integrity check and every kind of bad input: one line naming the file or row, exit code 2
from `radbench run`, and nothing written (no run directory, no cache)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from radbench.config.schema import TaskConfig
from radbench.data.check import FIXES, PER_IMAGE_GROUPS_FIX, check_dataset, report_lines
from radbench.data.prepare import prepare
from radbench.errors import DataError
from tests.conftest import run_cli
from tests.data import releases

CLASSES = ("benign", "malignant")


def csv_dataset(root, n_patients: int = 8, rows: list[str] | None = None):
    """Two classes x n patients, one distinct image each, listed in list.csv (+ extra rows)."""
    lines = ["path,label,patient"]
    for c, label in enumerate(CLASSES):
        for p in range(n_patients):
            name = f"img/{label}_{p}.png"
            releases.gray(root / name, (48, 48), seed=100 * c + p)
            lines.append(f"{name},{label},{label}{p}")
    (root / "list.csv").write_text("\n".join(lines + (rows or [])) + "\n")
    return root


def write_task(path, **data) -> str:
    config = {"name": "t", "data": {"adapter": "csv", "csv": "list.csv",
                                     "columns": {"group": "patient"}, **data},
              "classes": {"names": list(CLASSES), "positive": "malignant"},
              "split": {"scheme": "kfold", "folds": 2, "fractions": [0.3, 0.2, 0.5]}}
    path.write_text(json.dumps(config))  # JSON is YAML
    return str(path)


def run_refused(tmp_path, task_file: str, root, expected: str):
    out, cache = tmp_path / "run", tmp_path / "cache"
    result = run_cli("run", task_file, "--grid", "smoke", "--data", str(root), "--out", str(out),
                     "--cache-dir", str(cache))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in lines[0], lines[0]
    assert not out.exists() and not (cache.exists() and any(cache.iterdir()))
    return lines[0]


def _truncated(root):
    data = (root / "img/benign_0.png").read_bytes()
    (root / "img/benign_0.png").write_bytes(data[: len(data) // 2])


def _zero(root):
    (root / "img/benign_0.png").write_bytes(b"")


BAD_FILES = {
    "truncated": (_truncated, "img/benign_0.png: corrupt or truncated image"),
    "zero_bytes": (_zero, "img/benign_0.png: empty file (0 bytes)"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_image_file_refused_then_skipped(tmp_path, kind):
    root = csv_dataset(tmp_path / "data")
    damage, expected = BAD_FILES[kind]
    damage(root)
    task_file = write_task(tmp_path / "t.yaml")
    message = run_refused(tmp_path, task_file, root, expected)
    assert "fails the integrity check with 1 error(s)" in message and "--skip-bad" in message
    task = TaskConfig.model_validate(json.loads((tmp_path / "t.yaml").read_text()))
    prepared = prepare(task, root, skip_bad=True)
    assert "img/benign_0.png" not in set(prepared.manifest.frame["case_id"])
    assert [s["image"] for s in prepared.skipped] == ["img/benign_0.png"]
    assert expected in prepared.skipped[0]["reason"]
    assert prepared.manifest.dropped["(bad file)"] == 1


def test_all_problems_listed_at_once(tmp_path):
    root = csv_dataset(tmp_path / "data", rows=["img/gone.png,benign,x1", "img/gone2.png,benign,x2"])
    _truncated(root)
    (root / "img/malignant_3.png").write_bytes(b"")
    task = TaskConfig.model_validate(json.loads(open(write_task(tmp_path / "t.yaml")).read()))
    report = check_dataset(task, root)
    kinds = sorted(f.kind for f in report.errors)
    assert kinds == ["missing_file", "missing_file", "unreadable", "unreadable"]
    assert any("list.csv row 18: image" in f.message for f in report.errors)
    fixes = [line for line in report_lines(report) if line.startswith("fix: ")]
    assert fixes == ["fix: " + FIXES["missing_file"], "fix: " + FIXES["unreadable"],
                     "fix: " + FIXES["underpowered"]]  # 16 images: a handful per test part


def test_missing_file_named_in_csv(tmp_path):
    root = csv_dataset(tmp_path / "data", rows=["img/gone.png,benign,x1"])
    run_refused(tmp_path, write_task(tmp_path / "t.yaml"), root, "list.csv row 18: image ")


def test_unknown_label(tmp_path):
    root = csv_dataset(tmp_path / "data", rows=["img/benign_1.png,maybe,zz"])
    run_refused(tmp_path, write_task(tmp_path / "t.yaml"), root, "label 'maybe'")


def test_class_without_images(tmp_path):
    root = csv_dataset(tmp_path / "data")
    text = (root / "list.csv").read_text().replace(",malignant,", ",benign,")
    (root / "list.csv").write_text(text)
    run_refused(tmp_path, write_task(tmp_path / "t.yaml"), root, "class 'malignant' of task t has "
                                                                 "no images")


def test_group_in_two_classes(tmp_path):
    root = csv_dataset(tmp_path / "data")
    text = (root / "list.csv").read_text().replace(",malignant0", ",benign0")
    (root / "list.csv").write_text(text)
    run_refused(tmp_path, write_task(tmp_path / "t.yaml"), root,
                "group 'benign0' holds images of both classes")


def test_path_leaving_the_root(tmp_path):
    root = csv_dataset(tmp_path / "data", rows=["../outside.png,benign,q"])
    releases.gray(tmp_path / "outside.png")
    run_refused(tmp_path, write_task(tmp_path / "t.yaml"), root,
                "list.csv row 18: path '../outside.png' leaves the dataset root")


def test_dicom_without_pixel_data(tmp_path):
    root = tmp_path / "data"
    for label in CLASSES:
        for p in range(6):
            releases.write_dicom(root / label / f"{p}.dcm", np.full((8, 8), 10 * p, np.uint16) + 3)
    releases.write_dicom(root / "benign" / "broken.dcm", None)
    task = {"name": "t", "data": {"adapter": "folders"},
            "classes": {"names": list(CLASSES), "positive": "malignant"},
            "split": {"scheme": "kfold", "folds": 2, "fractions": [0.3, 0.2, 0.5]}}
    (tmp_path / "t.yaml").write_text(json.dumps(task))
    run_refused(tmp_path, str(tmp_path / "t.yaml"), root, "broken.dcm: DICOM without pixel data")


def test_xml_outline_outside_the_image(tmp_path):
    root = releases.ddti_release(tmp_path / "ddti", {1: "2"}, outline=[
        {"x": 1, "y": 1}, {"x": 61, "y": 1}, {"x": 5, "y": 20}])
    releases.ddti_release(root, {n: ("2" if n % 2 else "5") for n in range(3, 23)})
    run_refused(tmp_path, "thyroid", root, "1.xml: image 1: outline point (61.0, 1.0) lies outside")


def test_npz_missing_keys(tmp_path):
    releases.medmnist(tmp_path / "m" / "breastmnist.npz", drop="val_labels")
    run_refused(tmp_path, "breastmnist", tmp_path / "m", "breastmnist.npz: missing key(s) "
                                                         "val_labels")


def test_npz_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "m" / "breastmnist.npz"
    path.parent.mkdir()
    objects = np.array([{"x": 1}, None], dtype=object)
    np.savez(path, train_images=objects, train_labels=objects, val_images=objects,
             val_labels=objects, test_images=objects, test_labels=objects)
    run_refused(tmp_path, "breastmnist", tmp_path / "m", "holds object arrays")


def test_mask_of_another_size(tmp_path):
    root = csv_dataset(tmp_path / "data")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "img/m.png")
    text = (root / "list.csv").read_text().replace("path,label,patient", "path,label,patient,mask")
    text = "\n".join(line + ("," if i else "") + ("img/m.png" if i == 1 else "")
                     for i, line in enumerate(text.strip().splitlines())) + "\n"
    (root / "list.csv").write_text(text)
    run_refused(tmp_path, write_task(tmp_path / "t.yaml", columns={"group": "patient",
                                                                   "mask": "mask"}),
                root, "mask is 12x10 but its image img/benign_0.png is 48x48")


def test_unusual_pixel_formats_are_converted_and_reported(tmp_path):
    root = csv_dataset(tmp_path / "data")
    wide = (np.arange(48 * 48).reshape(48, 48) * 20).astype(np.uint16)
    Image.fromarray(wide).save(root / "img/benign_0.png")  # 16-bit PNG
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 48, 3), np.uint8)).convert(
        "P").save(root / "img/benign_1.png")
    rgba = np.random.default_rng(2).integers(0, 255, (48, 48, 4), np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(root / "img/benign_2.png")
    task_file = write_task(tmp_path / "t.yaml")
    result = run_cli("data", "check", task_file, "--data", str(root))
    assert result.returncode == 0, result.stderr
    assert "img/benign_0.png: I;16 image stretched to 8 bits" in result.stdout
    assert "img/benign_1.png: palette image converted to RGB" in result.stdout
    assert "img/benign_2.png: RGBA image with transparent pixels; alpha dropped" in result.stdout
    assert "0 error(s), 4 warning(s)" in result.stdout  # and an underpowered test part
    assert "warning: underpowered test part(s): fold 0: " in result.stdout


def test_check_real_busi_counts_merge_and_duplicates(busi_root):
    result = run_cli("data", "check", "breast", "--data", str(busi_root), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["raw_counts"] == {"benign": 437, "malignant": 210, "normal": 133}
    assert report["counts"] == {"benign": 570, "malignant": 210} == report["paper_counts"]
    assert report["merged"] == {"normal": "benign"} and report["with_masks"] == 780
    in_sets = sum(len(s) for s in report["duplicates"])
    assert 0.3 < in_sets / 780 < 0.5  # BUSI's twins: about 43 % of images are in a set
    assert ["benign/benign (1).png", "benign/benign (318).png"] in report["duplicates"]
    text = run_cli("data", "check", "breast", "--data", str(busi_root)).stdout
    assert "class map: normal -> benign (133 images)" in text and "near-duplicates: " in text
    assert text.rstrip().endswith(PER_IMAGE_GROUPS_FIX)  # each finding ends with its fix
    assert "fix: " + FIXES["label_conflict"] in text
    # the shipped task keeps them as the study did: warnings naming both files and classes
    assert "warning: the same picture in two classes (identical pixels): benign/benign " \
           "(433).png (class benign) and malignant/malignant (145).png (class malignant)" in text


def test_busi_twins_never_straddle_train_and_test(busi_root):
    from radbench.config.load import load_task

    task, _ = load_task("breast")
    prepared = prepare(task, busi_root)
    merged = prepared.splits.merge(prepared.manifest.frame[["case_id", "group"]], on="case_id")
    part = {(f, c): p for f, c, p in merged[["fold", "case_id", "part"]].itertuples(index=False)}
    for members in prepared.check.duplicates:
        for fold in range(5):
            assert len({part[(fold, m)] for m in members}) == 1, members


def test_inspection_is_kept_and_redone_when_a_file_changes(tmp_path, monkeypatch):
    import radbench.data.prepare as prepare_module

    root = csv_dataset(tmp_path / "data")
    task = TaskConfig.model_validate(json.loads(open(write_task(tmp_path / "t.yaml")).read()))
    calls = []
    real = prepare_module.inspect_all
    monkeypatch.setattr(prepare_module, "inspect_all",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    first = prepare(task, root, cache_dir=tmp_path / "cache")
    again = prepare(task, root, cache_dir=tmp_path / "cache")
    assert len(calls) == 1 and first.split_id == again.split_id
    releases.gray(root / "img/benign_0.png", (48, 48), seed=999)  # changed content and mtime
    prepare(task, root, cache_dir=tmp_path / "cache")
    assert len(calls) == 2


def test_skipped_images_are_recorded_in_the_run_directory(tmp_path):
    import pandas as pd

    from radbench.store import RunDir

    root = csv_dataset(tmp_path / "data")
    _zero(root)
    task = TaskConfig.model_validate(json.loads(open(write_task(tmp_path / "t.yaml")).read()))
    prepared = prepare(task, root, skip_bad=True)
    folder = prepared.write_to(RunDir(tmp_path / "run"))
    skipped = pd.read_csv(folder.skipped_file)
    assert skipped["image"].tolist() == ["img/benign_0.png"]
    assert "empty file (0 bytes)" in skipped["reason"][0]
    record = folder.info()
    assert record["skipped_bad"] == 1 and record["dropped"]["(bad file)"] == 1
    assert json.loads(folder.check_file.read_text())["ok"] is False


def test_cross_class_sets_are_reported_only_when_alike_directly(tmp_path):
    """Adjacent slices chain into one near-duplicate set (each 4 bits from the next); a set
    whose images of two classes are 4 bits apart directly is a false positive (as COVID-CT's
    slices were) and is not reported; 1 bit apart is."""
    import pandas as pd

    from radbench.data.check import _duplicate_findings, strict_distance
    from radbench.data.inspect import ImageInfo, duplicate_groups
    from radbench.data.manifest import Manifest

    frame = pd.DataFrame({"case_id": ["a", "b", "c", "d"], "label": ["x", "x", "y", "y"]})
    chain = {"a": 0b0, "b": 0b1111, "c": 0b11111111, "d": 0b11111110}  # a-b 4, b-c 4, c-d 1
    infos = [ImageInfo(k, width=100, height=100, std=10.0, phash=f"{v:016x}")
             for k, v in chain.items()]
    (members,) = duplicate_groups(infos, 4)
    assert members == ["a", "b", "c", "d"] and strict_distance(4) == 2
    manifest = Manifest(tmp_path, frame)
    assert _duplicate_findings(manifest, [members], infos, 4) == []
    infos[2] = ImageInfo("c", width=100, height=100, std=10.0, phash=f"{0b1110:016x}")  # b-c 1
    (finding,) = _duplicate_findings(manifest, duplicate_groups(infos, 4), infos, 4)
    assert finding.kind == "label_conflict" and finding.level == "error"
    assert finding.message == ("the same picture in two classes (perceptual hashes 1 bit(s) "
                               "apart): a (class x) and c (class y); 4 images in the set")
    assert finding.case_ids == ["a", "b", "c", "d"]


def test_a_file_name_that_is_not_utf8_stays_out_of_the_manifest_frame(tmp_path):
    """Issue 27: with pyarrow installed, pandas stores text as Arrow strings, which must be
    UTF-8: a file name holding undecodable bytes (a surrogate escape once decoded) crashed the
    manifest with a traceback. It is listed apart (`unencodable`), and every string left in the
    frame encodes as UTF-8, which is what an Arrow-backed column needs."""
    import os
    from pathlib import Path

    from radbench.config.load import load_task
    from radbench.data.manifest import build_manifest
    from tests.test_bad_input_corpus import World, folders_task, png

    def harm(root: Path) -> None:
        png(Path(os.fsdecode(bytes(root / "benign") + b"/scan\xff.png")))

    task_file, data = folders_task(World(tmp_path, tmp_path), harm)
    manifest = build_manifest(load_task(task_file)[0], Path(data), strict=False)
    assert manifest.unencodable == [str(Path(data) / "benign" / "scan\\xff.png")]
    assert len(manifest.frame) == 24
    for column in manifest.frame.columns:
        for value in manifest.frame[column]:
            if isinstance(value, str):
                value.encode("utf-8")  # raises for a surrogate escape
