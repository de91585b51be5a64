"""Decoding one image file into a square 3-channel uint8 array, as the paper's generator did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from radbench.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images: stretch their own range to 0..255."""
    array = np.asarray(image, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    scaled = np.zeros_like(array) if high <= low else (array - low) * (255.0 / (high - low))
    return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image file; any problem is a DataError naming the file."""
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: empty file (0 bytes), expected an image")
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: corrupt or truncated image ({exc})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Grayscale, palette, RGBA, 16-bit: all become 8-bit RGB (alpha dropped, gray replicated)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = _to_8bit(image)
    return image if image.mode == "RGB" else image.convert("RGB")


def load_rgb(path: Path, size: int, interpolation: str = "nearest") -> np.ndarray:
    """The image at `path` as a (size, size, 3) uint8 array, resized without keeping aspect."""
    image = to_rgb(open_image(path))
    if image.size != (size, size):
        image = image.resize((size, size), _RESAMPLE[interpolation])
    return np.asarray(image, dtype=np.uint8)


def load_mask(paths: list[Path], size: int) -> np.ndarray:
    """Union of one or more lesion masks as a (size, size) uint8 array of 0/1."""
    union = np.zeros((size, size), dtype=np.uint8)
    for path in paths:
        mask = open_image(path).convert("L").resize((size, size), Image.Resampling.NEAREST)
        union |= (np.asarray(mask) > 127).astype(np.uint8)
    return union
