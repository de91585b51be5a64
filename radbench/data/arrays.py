"""Images stored in NumPy files: MRNet `.npy` volumes and MedMNIST `.npz` archives.

Never unpickled: object arrays are refused with a clear error.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

from radbench.errors import DataError

MEDMNIST_PARTS = ("train", "val", "test")
_lock = threading.Lock()


def _load(path: Path, mmap: bool):
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(f"{path}: holds object arrays (pickled Python objects); expected "
                            f"plain numeric arrays, refusing to unpickle") from None
        raise DataError(f"{path}: not a readable NumPy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: corrupt or truncated NumPy file ({exc})") from None


@functools.lru_cache(maxsize=4)
def _npz(path: str, mtime_ns: int) -> dict[str, np.ndarray]:
    archive = _load(Path(path), mmap=False)
    if not hasattr(archive, "files"):
        raise DataError(f"{path}: expected an .npz archive, found a single array")
    try:
        with archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        raise DataError(f"{path}: holds object arrays (pickled Python objects); expected plain "
                        f"numeric arrays, refusing to unpickle ({exc})") from None
    except (OSError, EOFError, Exception) as exc:  # zipfile.BadZipFile, zlib.error
        raise DataError(f"{path}: corrupt or truncated .npz archive ({exc})") from None


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an `.npz` file (kept while the file is unchanged)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    with _lock:
        return _npz(str(path), mtime)


def image_parts(path: Path, arrays: dict[str, np.ndarray]) -> list[str]:
    """The parts (train, val, test) with both `_images` and `_labels`, checked."""
    parts = [p for p in MEDMNIST_PARTS if f"{p}_images" in arrays and f"{p}_labels" in arrays]
    if not parts:
        raise DataError(f"{path}: no {{train,val,test}}_images with matching _labels (found "
                        f"{', '.join(sorted(arrays)) or 'none'})")
    for part in parts:
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.dtype.kind not in "uif" or labels.dtype.kind not in "uif":
            raise DataError(f"{path}: {part}_images/{part}_labels must be numeric arrays, got "
                            f"{images.dtype} and {labels.dtype}")
        if images.ndim not in (3, 4) or len(images) != len(labels):
            raise DataError(f"{path}: {part}_images has shape {images.shape} and {part}_labels "
                            f"{labels.shape}; expected (N, H, W[, C]) and (N[, 1]) with the same N")
    return parts


def medmnist_arrays(path: Path) -> dict[str, np.ndarray]:
    """The `{train,val,test}_{images,labels}` arrays of a MedMNIST file, checked."""
    arrays = npz_arrays(path)
    needed = [f"{part}_{kind}" for part in MEDMNIST_PARTS for kind in ("images", "labels")]
    missing = [key for key in needed if key not in arrays]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; a MedMNIST file has "
                        f"{', '.join(needed)} (found {', '.join(sorted(arrays)) or 'none'})")
    image_parts(path, arrays)
    return arrays


def read_npz_image(path: Path, part: str, index: int) -> np.ndarray:
    """One MedMNIST image, (H, W) or (H, W, C)."""
    arrays = npz_arrays(path)
    if f"{part}_images" not in arrays:
        raise DataError(f"{path}: no array {part}_images")
    images = arrays[f"{part}_images"]
    if not 0 <= index < len(images):
        raise DataError(f"{path}: no image {index} in {part}_images ({len(images)} images)")
    return np.asarray(images[index])


def volume_shape(path: Path) -> tuple[int, ...]:
    """Shape of a `.npy` volume without reading its voxels."""
    return tuple(_load(Path(path), mmap=True).shape)


def read_npy_slice(path: Path, index: int) -> np.ndarray:
    """Slice `index` of an (S, H, W) volume, as a 2-D array."""
    volume = _load(Path(path), mmap=True)
    if volume.ndim != 3:
        raise DataError(f"{path}: expected a volume of shape (slices, H, W), got {volume.shape}")
    if not 0 <= index < volume.shape[0]:
        raise DataError(f"{path}: no slice {index} (volume has {volume.shape[0]})")
    return np.array(volume[index])
