"""Decoding one image (or mask) into a square uint8 array, the reader chosen by the file's suffix.

A table maps suffixes to readers: a new file kind is one entry here plus its reader module.
Plain image files (PNG, JPEG, ...) are read by PIL (radbench.data.images).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from radbench.data.arrays import read_npy_slice, read_npz_image
from radbench.data.ddti import rasterise_outline
from radbench.data.dicom import read_dicom
from radbench.data.images import Decoded, array_image, open_image, resize, split_locator, to_rgb
from radbench.errors import DataError
from radbench.registry import Registry

Windows = Sequence[tuple[float, float]]


def _npy(path: Path, fragment: str | None, windows: Windows, locator: str) -> Decoded:
    return array_image(read_npy_slice(path, int(fragment or 0)), locator)


def _npz(path: Path, fragment: str | None, windows: Windows, locator: str) -> Decoded:
    part, _, index = (fragment or "").partition("/")
    return array_image(read_npz_image(path, part, int(index)), locator)


def _dicom(path: Path, fragment: str | None, windows: Windows, locator: str) -> Decoded:
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes), expected a DICOM image")
    return Decoded(Image.fromarray(read_dicom(path, windows), mode="RGB"), "DICOM")


# suffix -> reader of (path, fragment, windows, locator); any other suffix: PIL
IMAGE_READERS: Registry[Callable[[Path, str | None, Windows, str], Decoded]] = \
    Registry("image reader")
for _suffix, _reader in ((".npy", _npy), (".npz", _npz), (".dcm", _dicom), (".dicom", _dicom)):
    IMAGE_READERS.register(_suffix, _reader)
# suffix -> reader of a lesion mask (path, fragment) as a mode-L image; any other suffix: PIL
MASK_READERS: Registry[Callable[[Path, str | None], Image.Image]] = Registry("mask reader")
MASK_READERS.register(".xml", rasterise_outline)  # a DDTI case's outlines


def decode(locator: str | Path, windows: Sequence[tuple[float, float]] = ()) -> Decoded:
    """Decode the image a locator names, at its own size."""
    path, fragment = split_locator(locator)
    reader = IMAGE_READERS.get(path.suffix.lower())
    if reader is not None:
        return reader(path, fragment, windows, str(locator))
    return to_rgb(open_image(path), str(path))


def load_rgb(locator: str | Path, size: int, interpolation: str = "nearest",
             windows: Windows = ()) -> np.ndarray:
    """The image as a (size, size, 3) uint8 array, resized without keeping aspect."""
    return resize(decode(locator, windows).image, size, interpolation)


def mask_image(locator: str | Path) -> Image.Image:
    """A lesion mask at its own size as a mode-L image of 0/255."""
    path, fragment = split_locator(locator)
    reader = MASK_READERS.get(path.suffix.lower())
    if reader is not None:
        return reader(path, fragment)
    mask = np.asarray(open_image(path).convert("L")) > 127
    return Image.fromarray((mask * 255).astype(np.uint8), mode="L")


def load_mask(locators: list, size: int) -> np.ndarray:
    """Union of one or more lesion masks as a (size, size) uint8 array of 0/1."""
    union = np.zeros((size, size), dtype=np.uint8)
    for locator in locators:
        mask = mask_image(locator).resize((size, size), Image.Resampling.NEAREST)
        union |= (np.asarray(mask) > 127).astype(np.uint8)
    return union
