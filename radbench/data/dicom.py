"""DICOM slices to 8-bit pixels: rescale to HU, window, invert MONOCHROME1 (pydicom)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from radbench.errors import DataError

BRAIN, SUBDURAL, BONE = (40.0, 80.0), (80.0, 200.0), (600.0, 2800.0)


def _read(path: Path, header_only: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=header_only)
    except InvalidDicomError:
        raise DataError(f"{path}: not a DICOM file (no DICM preamble)") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: corrupt or truncated DICOM ({exc})") from None


def read_header(path: Path):
    """The DICOM header without pixel data (fast; for patient ids)."""
    return _read(path, header_only=True)


def _pixels(path: Path, dataset) -> np.ndarray:
    if "PixelData" not in dataset:
        raise DataError(f"{path}: DICOM without pixel data (no PixelData element)")
    try:
        pixels = dataset.pixel_array
    except Exception as exc:  # noqa: BLE001 - every codec failure becomes one clear line
        syntax = dataset.file_meta.get("TransferSyntaxUID", "unknown")
        name = getattr(syntax, "name", str(syntax))
        raise DataError(
            f"{path}: cannot decode transfer syntax {name} ({syntax}): "
            f"{(str(exc).splitlines() or [type(exc).__name__])[0][:160]}; for compressed "
            f"syntaxes install the codecs (pip install 'radbench[dicom-codecs]')"
        ) from None
    if pixels.ndim == 3 and dataset.get("SamplesPerPixel", 1) == 1:
        pixels = pixels[pixels.shape[0] // 2]  # multi-frame: the middle frame
    if pixels.ndim != 2:
        raise DataError(f"{path}: expected a single grayscale frame, got pixel array of shape "
                        f"{pixels.shape}")
    return pixels


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((values - low) * 255.0 / max(high - low, 1e-6), 0, 255)


def read_dicom(path: Path, windows: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """A (H, W, 3) uint8 array. `windows` (center, width) in modality units (HU for CT):
    none = the file's VOI LUT window when present, else the pixel range; one = replicated;
    three = one per channel (e.g. brain, subdural, bone)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    dataset = _read(path)
    raw = _pixels(path, dataset)
    values = apply_modality_lut(raw, dataset).astype(np.float64)
    if windows:
        channels = [_scale(values, c - w / 2, c + w / 2) for c, w in windows]
    else:
        if "WindowCenter" in dataset or "VOILUTSequence" in dataset:
            values = apply_voi_lut(values, dataset).astype(np.float64)
        channels = [_scale(values, float(values.min()), float(values.max()))]
    if dataset.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        channels = [255.0 - c for c in channels]
    if len(channels) == 1:
        channels = channels * 3
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)
