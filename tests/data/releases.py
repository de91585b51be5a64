"""Small copies of each public release's exact layout, written by the tests themselves
(DICOMs with pydicom, DDTI XMLs, MRNet .npy volumes, Kaggle CSVs, MedMNIST .npz)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid


def write_dicom(path: Path, pixels: np.ndarray | None, *, patient: str = "P0",
                slope: float = 1.0, intercept: float = 0.0, photometric: str = "MONOCHROME2",
                syntax=ExplicitVRLittleEndian, window: tuple[float, float] | None = None) -> Path:
    """A single-frame grayscale DICOM (uint16 or int16 stored values)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT image storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality = patient, "CT"
    if pixels is not None:
        pixels = np.asarray(pixels)
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        if window:
            ds.WindowCenter, ds.WindowWidth = window
        if syntax == ExplicitVRLittleEndian:
            ds.PixelData = pixels.tobytes()
        else:  # claims a compressed syntax; the bytes are not a valid codestream
            from pydicom.encaps import encapsulate

            ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])
            ds["PixelData"].VR = "OB"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def gray(path: Path, size=(40, 32), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)).save(path)
    return path


def ddti_release(root: Path, cases: dict[int, str], outline=None) -> Path:
    """`<case>.xml` + `<case>_1.jpg` (and `_2.jpg` for even cases), TI-RADS per case."""
    root.mkdir(parents=True, exist_ok=True)
    for case, tirads in cases.items():
        numbers = [1, 2] if case % 2 == 0 else [1]
        marks = ""
        for number in numbers:
            gray(root / f"{case}_{number}.jpg", (60, 40), seed=case * 10 + number)
            points = outline or [{"x": 10, "y": 5}, {"x": 30, "y": 5}, {"x": 30, "y": 25},
                                 {"x": 10, "y": 25}]
            svg = json.dumps([{"points": points, "annotation": {}, "regionType": "freehand"}])
            marks += f"<mark><image>{number}</image><svg>{svg}</svg></mark>"
        (root / f"{case}.xml").write_text(
            f'<?xml version="1.0" encoding="utf-8"?><case><number>{case}</number><age>50</age>'
            f"<sex>F</sex><tirads>{tirads}</tirads>{marks}</case>")
    return root


def mrnet(root: Path, labels: dict[str, dict[int, int]], slices: int = 7) -> Path:
    """`{part}/{axial,coronal,sagittal}/NNNN.npy` (slice k holds value k) + `{part}-acl.csv`."""
    for part, exams in labels.items():
        rows = []
        for exam, label in exams.items():
            for plane in ("axial", "coronal", "sagittal"):
                target = root / part / plane / f"{exam:04d}.npy"
                target.parent.mkdir(parents=True, exist_ok=True)
                volume = np.stack([np.full((16, 16), 10 * k + exam % 7, np.uint8)
                                   for k in range(slices)])
                volume[:, :4, :4] = 255  # some structure, so slices are not blank
                np.save(target, volume)
            rows.append(f"{exam:04d},{label}")
        (root / f"{part}-acl.csv").write_text("\n".join(rows) + "\n")
    return root


def rsna_pneumonia(root: Path, boxes: dict[str, list[int]]) -> Path:
    """`stage_2_train_labels.csv` (one row per box) + `stage_2_train_images/<id>.dcm`."""
    lines = ["patientId,x,y,width,height,Target"]
    for n, (pid, targets) in enumerate(boxes.items()):
        for target in targets:
            lines.append(f"{pid},1,2,3,4,{target}" if target else f"{pid},,,,,0")
        write_dicom(root / "stage_2_train_images" / f"{pid}.dcm",
                    np.random.default_rng(n).integers(0, 255, (24, 24)).astype(np.uint16),
                    patient=pid)
    (root / "stage_2_train_labels.csv").write_text("\n".join(lines) + "\n")
    return root


def rsna_ich(root: Path, images: dict[str, tuple[str, int]]) -> Path:
    """`stage_2_train.csv` (ID_<img>_<subtype>, Label) + `stage_2_train/ID_<img>.dcm`; images
    maps image id -> (patient, any-label)."""
    lines = ["ID,Label"]
    for n, (image, (patient, label)) in enumerate(images.items()):
        for subtype in ("epidural", "intraparenchymal", "intraventricular", "subarachnoid",
                        "subdural", "any"):
            lines.append(f"ID_{image}_{subtype},{label if subtype in ('any', 'subdural') else 0}")
        hu = np.random.default_rng(n).integers(-1000, 1500, (24, 24))
        write_dicom(root / "stage_2_train" / f"ID_{image}.dcm", (hu + 1024).astype(np.uint16),
                    patient=patient, intercept=-1024)
    (root / "stage_2_train.csv").write_text("\n".join(lines) + "\n")
    return root


def medmnist(path: Path, counts=(12, 4, 6), size: int = 28, drop: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in zip(("train", "val", "test"), counts):
        arrays[f"{part}_images"] = rng.integers(0, 255, (n, size, size), dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(n) % 2).reshape(n, 1).astype(np.uint8)
    if drop:
        arrays.pop(drop)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def _masked_png(path: Path, seed: int) -> None:
    gray(path, (36, 30), seed)
    mask = np.zeros((30, 36), np.uint8)
    mask[8:20, 10:24] = 255
    Image.fromarray(mask).save(path.with_name(path.stem + "_mask.png"))


def _busi(root: Path) -> dict:
    for n, name in enumerate(("benign", "malignant", "normal")):
        _masked_png(root / "Dataset_BUSI_with_GT" / name / f"{name} (1).png", n)
    return {}


def _ddti_crops(root: Path) -> dict:
    (root / "mask").mkdir(parents=True, exist_ok=True)
    for n, name in enumerate(("1_1", "2_1")):
        gray(root / "cropped" / f"{name}.png", seed=n)
        Image.fromarray(np.full((32, 40), 255, np.uint8)).save(root / "mask" / f"{name}.gif")
    (root / "diagnosis.csv").write_text("1_1,2\n2_1,5\n")
    return {}


def _csv(root: Path) -> dict:
    gray(root / "img" / "a.png", seed=1)
    gray(root / "img" / "b.png", seed=2)
    (root / "list.csv").write_text("path,label\nimg/a.png,benign\nimg/b.png,malignant\n")
    return {"csv": "list.csv"}


def _folders(root: Path) -> dict:
    gray(root / "benign" / "p1_a.png", seed=1)
    gray(root / "malignant" / "deeper" / "p2_a.png", seed=2)
    return {}


def _head_ct(root: Path) -> dict:
    gray(root / "images" / "000.png", seed=1)
    gray(root / "images" / "001.png", seed=2)
    (root / "labels.csv").write_text("id,hemorrhage\n0,0\n1,1\n")
    return {}


def _npz_with_class_names(root: Path) -> dict:
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(root / "subset.npz",
                        train_images=rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8),
                        train_labels=np.array([0, 1, 0, 1]), classes=np.array(["cat", "dog"]))
    return {"target": "subset.npz"}


# adapter name -> writes a tiny release of that layout under a folder; returns the data: keys
# its task needs. The parametrized adapter test runs every registered adapter on its entry.
FAKE_RELEASES = {
    "busi": _busi,
    "ddti": lambda root: ddti_release(root, {1: "2", 2: "5"}) and {},
    "ddti_crops": _ddti_crops,
    "csv": _csv,
    "folders": _folders,
    "mrnet": lambda root: mrnet(root, {"train": {0: 1, 1: 0}}) and {"target": "acl"},
    "rsna_pneumonia": lambda root: rsna_pneumonia(root, {"p1": [1, 1], "p2": [0]}) and {},
    "rsna_ich": lambda root: rsna_ich(root, {"a1": ("P1", 1), "a2": ("P2", 0)}) and {},
    "medmnist": lambda root: medmnist(root / "breastmnist.npz") and {"target": "breastmnist.npz"},
    "npz": _npz_with_class_names,
    "head_ct": _head_ct,
}
