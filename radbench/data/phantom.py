"""An ultrasound-like phantom dataset for the offline demo and tests.

Benign lesions: oval, wider than tall, smooth margin, homogeneous, mildly hypoechoic, posterior
enhancement. Malignant: irregular (spiculated) margin, taller than wide, markedly hypoechoic and
heterogeneous, posterior acoustic shadowing. Multiplicative speckle and depth attenuation on layered
tissue. Several images per patient (the same lesion, moved and re-speckled), with lesion masks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import gaussian_filter

from radbench.atomic import make_temporary_dir


def _tissue(rng: np.random.Generator, size: int) -> np.ndarray:
    y = np.linspace(0, 1, size)[:, None]
    bands = 0.55 + 0.15 * np.sin(2 * np.pi * (y * rng.uniform(2, 4) + rng.uniform(0, 1)))
    texture = gaussian_filter(rng.normal(0, 1, (size, size)), size / 20)
    tissue = bands + 0.1 * texture / (texture.std() + 1e-9)
    return tissue * np.exp(-rng.uniform(0.6, 1.2) * y)  # depth attenuation


def _lesion_params(rng: np.random.Generator, malignant: bool) -> dict:
    width = rng.uniform(0.12, 0.2)
    aspect = rng.uniform(1.2, 1.7) if malignant else rng.uniform(0.5, 0.8)  # height / width
    harmonics = np.arange(3, 13)
    amplitude = (rng.uniform(0.03, 0.09, len(harmonics)) if malignant
                 else rng.uniform(0.0, 0.015, len(harmonics)))
    return {"cx": rng.uniform(0.35, 0.65), "cy": rng.uniform(0.3, 0.5), "rx": width,
            "ry": width * aspect, "harmonics": harmonics, "amplitude": amplitude,
            "phase": rng.uniform(0, 2 * np.pi, len(harmonics)),
            "echo": rng.uniform(0.06, 0.14) if malignant else rng.uniform(0.17, 0.25),
            "posterior": rng.uniform(0.35, 0.55) if malignant else rng.uniform(1.15, 1.35),
            "malignant": malignant}


def render(rng: np.random.Generator, lesion: dict, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (uint8) and its lesion mask (bool) of a patient's lesion, moved and re-speckled."""
    cx = (lesion["cx"] + rng.normal(0, 0.03)) * size
    cy = (lesion["cy"] + rng.normal(0, 0.03)) * size
    scale = rng.uniform(0.9, 1.1)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dx, dy = (xx - cx) / (lesion["rx"] * size * scale), (yy - cy) / (lesion["ry"] * size * scale)
    theta = np.arctan2(dy, dx)
    radius = 1 + sum(a * np.cos(k * theta + p) for k, a, p in
                     zip(lesion["harmonics"], lesion["amplitude"], lesion["phase"]))
    mask = np.hypot(dx, dy) <= radius
    image = _tissue(rng, size)
    inside = lesion["echo"] * np.ones((size, size))
    if lesion["malignant"]:
        inside *= 1 + 0.5 * gaussian_filter(rng.normal(0, 1, (size, size)), 1.5)
    image = np.where(mask, inside, image)
    columns = mask.any(axis=0)
    bottom = np.where(columns, size - 1 - np.argmax(mask[::-1], axis=0), size)
    below = (yy > bottom[None, :]) & columns[None, :]
    fade = np.exp(-(yy - bottom[None, :]) / (0.5 * size))
    image = np.where(below, image * (1 + (lesion["posterior"] - 1) * fade), image)
    image = gaussian_filter(image, 0.8)
    speckle = gaussian_filter(rng.rayleigh(1 / np.sqrt(np.pi / 2), (size, size)), 0.7)
    pixels = np.clip(255 * image * speckle, 0, 255).astype(np.uint8)
    return pixels, mask


def generate_phantom(folder: Path, patients_per_class: int = 30, images_per_patient: int = 4,
                     size: int = 128, seed: int = 0) -> Path:
    """Write images/, masks/ and manifest.csv (path,label,patient,mask) into `folder`.

    Written in a temporary folder and renamed, so an interrupted run leaves nothing behind.
    Returns `folder`; an existing complete folder is kept as it is.
    """
    def fill(scratch: Path) -> None:
        (scratch / "images").mkdir()
        (scratch / "masks").mkdir()
        rng = np.random.default_rng(seed)
        rows = []
        for number in range(2 * patients_per_class):
            malignant = number % 2 == 1
            lesion = _lesion_params(rng, malignant)
            patient = f"p{number:03d}"
            for index in range(images_per_patient):
                pixels, mask = render(rng, lesion, size)
                image_path = f"images/{patient}_{index}.png"
                mask_path = f"masks/{patient}_{index}_mask.png"
                Image.fromarray(pixels, mode="L").save(scratch / image_path)
                Image.fromarray((mask * 255).astype(np.uint8), mode="L").save(scratch / mask_path)
                rows.append({"path": image_path, "label": "malignant" if malignant else "benign",
                             "patient": patient, "mask": mask_path})
        pd.DataFrame(rows).to_csv(scratch / "manifest.csv", index=False)

    return _write_whole(Path(folder), "manifest.csv", fill)


def _write_whole(folder: Path, marker: str, fill) -> Path:
    """Fill a temporary folder beside `folder`, then rename it into place: an interrupted run
    leaves nothing half-written. A folder holding `marker` is complete and kept as it is."""
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = make_temporary_dir(f".{folder.name}-", folder.parent)
    try:
        fill(scratch)
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


CORPUS_CLASSES = ("no_lesion", "cyst", "oval_solid", "spiculated", "calcified")


def _corpus_image(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    if kind == "no_lesion":
        image = gaussian_filter(_tissue(rng, size), 0.8)
        speckle = gaussian_filter(rng.rayleigh(1 / np.sqrt(np.pi / 2), (size, size)), 0.7)
        return np.clip(255 * image * speckle, 0, 255).astype(np.uint8)
    lesion = _lesion_params(rng, malignant=kind == "spiculated")
    if kind == "cyst":  # round, anechoic, strong posterior enhancement
        lesion.update(ry=lesion["rx"], echo=0.02, posterior=1.6, amplitude=lesion["amplitude"] * 0)
    pixels, mask = render(rng, lesion, size)
    if kind == "calcified":  # bright echogenic foci inside the lesion
        ys, xs = np.nonzero(mask)
        for k in rng.choice(len(ys), size=min(len(ys), 6), replace=False):
            pixels[max(ys[k] - 1, 0):ys[k] + 1, max(xs[k] - 1, 0):xs[k] + 1] = 250
    return pixels


def generate_corpus(folder: Path, per_class: int = 80, size: int = 64, seed: int = 1) -> Path:
    """A multi-class phantom pretraining corpus as class folders `<class>/<n>.png` (no lesion,
    cyst, oval solid, spiculated, calcified), drawn with a different seed from the demo task.
    Written in a temporary folder and renamed; an existing complete folder is kept."""
    def fill(scratch: Path) -> None:
        rng = np.random.default_rng(seed)
        for kind in CORPUS_CLASSES:
            (scratch / kind).mkdir()
            for n in range(per_class):
                Image.fromarray(_corpus_image(rng, kind, size), mode="L").save(
                    scratch / kind / f"{n:04d}.png")
        (scratch / ".complete").write_text("")

    return _write_whole(Path(folder), ".complete", fill)
