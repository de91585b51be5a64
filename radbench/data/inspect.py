"""Every image decoded once at its own size: readable? surprising? its size, channel statistics
and perceptual hash (for near-duplicates), and whether its masks match it."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import imagehash
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from radbench.data.decode import decode, mask_image
from radbench.data.manifest import Manifest
from radbench.errors import DataError

BLANK_STD = 2.0  # an image whose gray values vary less than this is blank (no hash compared)
MIN_HASH_SIZE = 64  # smaller images (e.g. MedMNIST 28 px) are too coarse for perceptual hashes


@dataclass
class ImageInfo:
    case_id: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    width: int = 0
    height: int = 0
    mode: str = ""
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: float = 0.0
    phash: str = ""
    digest: str = ""  # of the decoded pixels: the same picture in two files (any size)


def _check_masks(masks: str, root, size: tuple[int, int], case_id: str) -> list[str]:
    problems = []
    for mask in filter(None, masks.split(";")):
        try:
            image = mask_image(root / mask)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if image.size != size:
            problems.append(f"{root / mask}: mask is {image.size[0]}x{image.size[1]} but its "
                            f"image {case_id} is {size[0]}x{size[1]}; expected the same size")
    return problems


def inspect_image(manifest: Manifest, row: pd.Series,
                  windows: Sequence[tuple[float, float]] = ()) -> ImageInfo:
    """Decode one image of the manifest and describe it; problems are recorded, not raised."""
    info = ImageInfo(row["case_id"])
    try:
        str(row["path"]).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name: no CSV, JSON or log can hold it
        raw = os.fsencode(str(manifest.absolute(row["path"])))
        info.error = (f"{ascii(raw)[2:-1]}: the file name is not valid UTF-8; rename the file "
                      f"(or leave it out with --skip-bad)")
        return info
    try:
        decoded = decode(manifest.absolute(row["path"]), windows)
    except DataError as exc:
        info.error = str(exc)
        return info
    array = np.asarray(decoded.image, dtype=np.float32)
    info.width, info.height = decoded.image.size
    info.mode = decoded.source_mode
    info.warnings = decoded.warnings
    info.mean = tuple(float(v) for v in array.reshape(-1, 3).mean(axis=0))
    gray = decoded.image.convert("L")
    info.std = float(np.asarray(gray, dtype=np.float32).std())
    info.phash = str(imagehash.phash(gray))
    info.digest = hashlib.sha1(f"{array.shape}".encode() + array.tobytes()).hexdigest()[:20]
    problems = _check_masks(row["masks"] or "", manifest.root, decoded.image.size, row["case_id"])
    if problems:
        info.error = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    return info


def inspect_all(manifest: Manifest, windows: Sequence[tuple[float, float]] = (),
                on_image: Callable[[], None] | None = None) -> list[ImageInfo]:
    """`inspect_image` for every row, on a thread pool, in manifest order."""
    rows = [row for _, row in manifest.frame.iterrows()]

    def one(row: pd.Series) -> ImageInfo:
        info = inspect_image(manifest, row, windows)
        if on_image:
            on_image()
        return info

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(one, rows))


INSPECTION_FORMAT = 4  # 2: file names that are not UTF-8 are errors; 3: frame counts; 4: digests


def _inspection_file(manifest: Manifest, windows: Sequence[tuple[float, float]],
                     cache_root: Path | None) -> Path:
    from radbench.data.cache import default_cache_root, file_key

    root = Path(cache_root) if cache_root else default_cache_root()
    return root / "inspections" / f"{file_key(manifest, windows)}-{INSPECTION_FORMAT}.json"


def load_inspection(manifest: Manifest, windows: Sequence[tuple[float, float]] = (),
                    cache_root: Path | None = None) -> list[ImageInfo] | None:
    """The inspection kept for exactly these files (same sizes and modification times), if any."""
    target = _inspection_file(manifest, windows, cache_root)
    try:
        return [ImageInfo(**item) for item in json.loads(target.read_text())]
    except (OSError, ValueError, TypeError):
        return None


def save_inspection(manifest: Manifest, infos: list[ImageInfo],
                    windows: Sequence[tuple[float, float]] = (),
                    cache_root: Path | None = None) -> None:
    """Keep an inspection in the image cache folder so a re-run need not decode everything."""
    from radbench.atomic import atomic_write_json

    atomic_write_json(_inspection_file(manifest, windows, cache_root),
                      [asdict(info) for info in infos])


def duplicate_groups(infos: list[ImageInfo], max_distance: int) -> list[list[str]]:
    """Sets (of two or more case ids) of images whose perceptual hashes differ in at most
    `max_distance` bits, linked transitively; blank and unreadable images are left out."""
    usable = [i for i in infos if i.phash and i.error is None and i.std >= BLANK_STD
              and min(i.width, i.height) >= MIN_HASH_SIZE]
    if len(usable) < 2:
        return []
    hashes = np.array([int(i.phash, 16) for i in usable], dtype=np.uint64)
    rows, cols = [], []
    for start in range(0, len(hashes), 1024):
        block = hashes[start:start + 1024, None] ^ hashes[None, :]
        close = np.argwhere(np.bitwise_count(block) <= max_distance)
        close = close[close[:, 0] + start < close[:, 1]]
        rows.append(close[:, 0] + start)
        cols.append(close[:, 1])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(usable),) * 2)
    _, component = connected_components(graph, directed=False)
    groups: dict[int, list[str]] = {}
    for info, label in zip(usable, component):
        groups.setdefault(int(label), []).append(info.case_id)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def merge_duplicate_groups(manifest: Manifest, duplicates: list[list[str]],
                           kept_as: str | None = None) -> Manifest:
    """Give every near-duplicate set one group (the union of their groups), so that no set can
    straddle train and test in a split radbench makes. `kept_as`: the split is not radbench's
    to make ("published", "released"): the note says the merged groups do not change it."""
    if not duplicates:
        return manifest
    frame = manifest.frame.copy()
    group_of = dict(zip(frame["case_id"], frame["group"]))
    groups = sorted(set(frame["group"]))
    index = {g: n for n, g in enumerate(groups)}
    rows, cols = [], []
    for members in duplicates:
        first = index[group_of[members[0]]]
        for member in members[1:]:
            rows.append(first)
            cols.append(index[group_of[member]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(groups),) * 2)
    _, component = connected_components(graph, directed=False)
    representative: dict[int, str] = {}
    for group, label in zip(groups, component):
        representative.setdefault(int(label), group)
    frame["group"] = [representative[int(component[index[g]])] for g in frame["group"]]
    merged = len(groups) - frame["group"].nunique()
    note = (f"near-duplicates: {sum(len(d) for d in duplicates)} images in {len(duplicates)} "
            f"sets; {merged} group(s) merged so that no set straddles train and test")
    if kept_as:
        note = (f"near-duplicates: {sum(len(d) for d in duplicates)} images in "
                f"{len(duplicates)} sets; {merged} group(s) merged, which radbench's own splits "
                f"keep whole, but this split is kept as {kept_as}: a set may straddle its parts "
                f"(the split note counts them)")
    return replace(manifest, frame=frame, notes=manifest.notes + [note])
