"""Image files as the paper's generator read them: locators, opening, 8-bit RGB, resizing.

An image is named by a locator: a file path, or `FILE::FRAGMENT` for an image inside a file
(`exam.npy::12` = slice 12 of a volume, `set.npz::train/17` = image 17 of a MedMNIST part,
`case.xml::2` = the outline of image 2 of a DDTI case, as a mask). radbench.data.decode picks
the reader of a locator by its suffix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from radbench.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
SEPARATOR = "::"
_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def split_locator(locator: str | Path) -> tuple[Path, str | None]:
    """`FILE::FRAGMENT` -> (FILE, FRAGMENT); a plain path -> (path, None)."""
    text = str(locator)
    if SEPARATOR in text:
        file, fragment = text.split(SEPARATOR, 1)
        return Path(file), fragment
    return Path(text), None


def locator_file(locator: str | Path) -> Path:
    return split_locator(locator)[0]


@dataclass
class Decoded:
    """A decoded image before resizing, with what was surprising about it."""

    image: Image.Image  # RGB
    source_mode: str
    warnings: list[str] = field(default_factory=list)


def _to_8bit(array: np.ndarray) -> Image.Image:
    """Wider-than-8-bit gray: stretch the image's own range to 0..255."""
    array = np.asarray(array, dtype=np.float64)
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
            frames = getattr(image, "n_frames", 1)
            copy = image.copy()
            copy.info["frames"] = frames  # an animated GIF/APNG or multi-page TIFF: frame 0 is read
            return copy
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: refused, its header claims more pixels than any real image "
                        f"({exc}); a damaged or hostile file") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: corrupt or truncated image ({exc})") from None


def array_image(array: np.ndarray, where: str) -> Decoded:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        if array.dtype == np.uint8:
            return Decoded(Image.fromarray(array, mode="L").convert("RGB"), "L")
        return Decoded(_to_8bit(array).convert("RGB"), str(array.dtype),
                       [f"{where}: {array.dtype} pixels stretched to 8 bits from the image's "
                        f"own range"])
    if array.ndim == 3 and array.shape[-1] == 3 and array.dtype == np.uint8:
        return Decoded(Image.fromarray(array, mode="RGB"), "RGB")
    raise DataError(f"{where}: expected a 2-D gray or (H, W, 3) uint8 image, got shape "
                    f"{array.shape} {array.dtype}")


def to_rgb(image: Image.Image, where: str = "") -> Decoded:
    """Grayscale, palette, RGBA, 16-bit: all become 8-bit RGB, each surprise noted."""
    mode, warnings = image.mode, []
    if mode in _WIDE_MODES:
        warnings.append(f"{where}: {mode} image stretched to 8 bits from its own range "
                        f"(Keras' loader would clip it to 255)")
        image = _to_8bit(np.asarray(image))
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if alpha.min() < 255:
            warnings.append(f"{where}: {mode} image with transparent pixels; alpha dropped")
    elif mode == "P":
        warnings.append(f"{where}: palette image converted to RGB through its palette")
    if image.info.get("frames", 1) > 1:
        warnings.append(f"{where}: {image.info['frames']} frames (animated or multi-page); only "
                        f"the first is used")
    return Decoded(image if image.mode == "RGB" else image.convert("RGB"), mode, warnings)


def resize(image: Image.Image, size: int, interpolation: str = "nearest") -> np.ndarray:
    if image.size != (size, size):
        image = image.resize((size, size), _RESAMPLE[interpolation])
    return np.asarray(image, dtype=np.uint8)
