"""Is any downstream image inside a pretraining corpus? Exact file copies, perceptual-hash twins
(images of 64 px and more) and, for tiny images, near-equal 28 px thumbnails."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from radbench.data.decode import decode
from radbench.data.inspect import MIN_HASH_SIZE, inspect_all
from radbench.data.manifest import Manifest
from radbench.ids import file_sha256

THUMB = 28
THUMB_RMS = 4.0  # grey levels: thumbnails closer than this are the same picture


@dataclass
class Overlap:
    downstream: str
    corpus: str
    how: str


def _thumbnails(manifest: Manifest) -> np.ndarray:
    rows = []
    for locator in manifest.frame["path"]:
        image = decode(manifest.absolute(locator)).image.convert("L")
        rows.append(np.asarray(image.resize((THUMB, THUMB), Image.Resampling.BILINEAR),
                               dtype=np.float32).ravel())
    return np.stack(rows)


def _close_thumbnails(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs (i, j) whose thumbnails differ by less than THUMB_RMS (RMS over pixels)."""
    a2, b2 = (a ** 2).sum(1)[:, None], (b ** 2).sum(1)[None, :]
    pairs = []
    for start in range(0, len(a), 256):
        d2 = a2[start:start + 256] + b2 - 2 * a[start:start + 256] @ b.T
        close = np.argwhere(d2 < (THUMB_RMS ** 2) * a.shape[1])
        close[:, 0] += start
        pairs.append(close)
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), int)


def find_overlap(downstream: Manifest, corpus: Manifest, max_distance: int = 4) -> list[Overlap]:
    """Every downstream image that is also (or nearly) in the corpus."""
    found: list[Overlap] = []
    files = {}
    for locator in corpus.frame["path"]:
        if "::" not in locator:
            files.setdefault(file_sha256(corpus.absolute(locator)), locator)
    for locator in downstream.frame["path"]:
        if "::" not in locator:
            twin = files.get(file_sha256(downstream.absolute(locator)))
            if twin:
                found.append(Overlap(locator, twin, "same file"))
    ours, theirs = inspect_all(downstream), inspect_all(corpus)
    big = [(i, int(x.phash, 16)) for i, x in enumerate(ours)
           if x.phash and min(x.width, x.height) >= MIN_HASH_SIZE]
    other = [(j, int(x.phash, 16)) for j, x in enumerate(theirs)
             if x.phash and min(x.width, x.height) >= MIN_HASH_SIZE]
    if big and other:
        a = np.array([h for _, h in big], dtype=np.uint64)
        b = np.array([h for _, h in other], dtype=np.uint64)
        for i, j in np.argwhere(np.bitwise_count(a[:, None] ^ b[None, :]) <= max_distance):
            found.append(Overlap(downstream.frame["path"][big[i][0]],
                                 corpus.frame["path"][other[j][0]], "perceptual hash"))
    for i, j in _close_thumbnails(_thumbnails(downstream), _thumbnails(corpus)):
        found.append(Overlap(downstream.frame["path"][i], corpus.frame["path"][j],
                             f"{THUMB} px thumbnail"))
    unique: dict[tuple[str, str], Overlap] = {}
    for overlap in found:  # the strongest evidence of a pair first: same file, hash, thumbnail
        unique.setdefault((overlap.downstream, overlap.corpus), overlap)
    return list(unique.values())
