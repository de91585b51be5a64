"""Images decoded once, resized and stored as one memory-mapped uint8 array per (data, size)."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from radbench.data.decode import load_rgb
from radbench.data.manifest import Manifest
from radbench.ids import stable_hash
from radbench.atomic import make_temporary_dir

CACHE_FORMAT = 3  # 3: entries carry complete.json, verified before reuse
SAMPLED_BLOCKS = 64  # blocks of 64 KiB hashed across images.npy (and its first and last)
BLOCK = 1 << 16


def fingerprint(path: Path) -> dict:
    """images.npy's size and a SHA-256 of its header, its last block and SAMPLED_BLOCKS blocks
    spread over it: a truncated, grown or overwritten file shows, in milliseconds even for
    gigabytes (a full hash of every read would cost seconds per cell)."""
    import hashlib

    size = path.stat().st_size
    digest = hashlib.sha256()
    starts = {0, max(0, size - BLOCK)}
    starts.update(int(i * max(0, size - BLOCK) / SAMPLED_BLOCKS) for i in range(SAMPLED_BLOCKS))
    with path.open("rb") as stream:
        for start in sorted(starts):
            stream.seek(start)
            digest.update(stream.read(BLOCK))
    return {"bytes": size, "sampled_sha256": digest.hexdigest()}


def default_cache_root() -> Path:
    """$RADBENCH_CACHE, else $XDG_CACHE_HOME/radbench, else ~/.cache/radbench."""
    if os.environ.get("RADBENCH_CACHE"):
        return Path(os.environ["RADBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "radbench"


@dataclass(frozen=True)
class ImageCache:
    """A finished cache entry: `images.npy` (N, S, S, 3) uint8 in the order of `index.csv`."""

    directory: Path

    @property
    def case_ids(self) -> list[str]:
        return pd.read_csv(self.directory / "index.csv", keep_default_na=False)["case_id"].tolist()

    def images(self) -> np.ndarray:
        """The images, memory-mapped read-only (never copied per cell)."""
        return np.load(self.directory / "images.npy", mmap_mode="r")

    def damage(self) -> str | None:
        """What is wrong with this entry, or None when it is whole: its completion record
        (complete.json) must be there and match images.npy (size, sampled hash) and
        index.csv (row count)."""
        try:
            record = json.loads((self.directory / "complete.json").read_text())
        except (OSError, ValueError):
            return "no completion record (complete.json)"
        try:
            found = fingerprint(self.directory / "images.npy")
            rows = len(pd.read_csv(self.directory / "index.csv", keep_default_na=False))
        except (OSError, ValueError) as exc:
            return f"unreadable ({exc})"
        if found["bytes"] != record.get("bytes"):
            return f"images.npy has {found['bytes']} bytes, {record.get('bytes')} were written"
        if found["sampled_sha256"] != record.get("sampled_sha256"):
            return "images.npy changed since it was written (sampled SHA-256 differs)"
        if rows != record.get("images"):
            return f"index.csv has {rows} rows, {record.get('images')} images were written"
        return None


def _files(manifest: Manifest) -> list:
    files = []
    for relative, masks in zip(manifest.frame["path"], manifest.frame["masks"]):
        stat = manifest.file_of(relative).stat()
        files.append([relative, stat.st_size, stat.st_mtime_ns, masks])
    return files


def file_key(manifest: Manifest, windows: Sequence[tuple[float, float]] = ()) -> str:
    """Every image's locator, its file's size and modification time, its masks, the windows."""
    return stable_hash({"files": _files(manifest), "root": str(manifest.root.resolve()),
                        "windows": [list(w) for w in windows], "format": CACHE_FORMAT}, 20)


def cache_key(manifest: Manifest, size: int, interpolation: str,
              windows: Sequence[tuple[float, float]] = ()) -> str:
    """Keyed by every image's locator and its file's size and modification time, and the
    decoding settings."""
    return stable_hash({"files": _files(manifest), "root": str(manifest.root.resolve()),
                        "size": size, "interpolation": interpolation, "format": CACHE_FORMAT,
                        "windows": [list(w) for w in windows]}, 20)


def _set_aside(target: Path, damage: str) -> None:
    """Move a damaged entry out of the way (renamed, then removed), saying so once."""
    import sys

    print(f"note: image cache {target} is damaged ({damage}); building it again",
          file=sys.stderr)
    aside = target.with_name(f".damaged-{target.name}-{os.getpid()}")
    try:
        target.rename(aside)
    except OSError:
        return  # another process moved it first
    shutil.rmtree(aside, ignore_errors=True)


def _reserve(file: Path, root: Path, count: int, size: int) -> None:
    """Allocate the memory-mapped file's blocks now: a disk that cannot hold the entry fails
    here with ENOSPC (one line, the partial entry removed), where writing into the pages of a
    sparse file on a full disk would end the process by SIGBUS, without a word."""
    import errno

    with file.open("r+b") as stream:
        length = stream.seek(0, 2)
        try:
            os.posix_fallocate(stream.fileno(), 0, length)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OSError(exc.errno, os.strerror(exc.errno),
                              f"image cache {root} ({length / 1e6:.0f} MB for {count} images "
                              f"of {size} px)") from None
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no fallocate there
                raise


def build_cache(manifest: Manifest, size: int, interpolation: str, root: Path | None = None,
                on_image: Callable[[], None] | None = None,
                windows: Sequence[tuple[float, float]] = ()) -> ImageCache:
    """Decode every image once (threads), or reuse the finished entry with the same key.

    The entry is written in a temporary folder and renamed when complete, so a failure or a kill
    never leaves a half-written cache behind.
    """
    root = Path(root) if root else default_cache_root()
    target = root / cache_key(manifest, size, interpolation, windows)
    if target.is_dir():
        damage = ImageCache(target).damage()
        if damage is None:
            return ImageCache(target)
        _set_aside(target, damage)
    root.mkdir(parents=True, exist_ok=True)
    scratch = make_temporary_dir(".building-", root)
    try:
        paths = [manifest.absolute(p) for p in manifest.frame["path"]]
        images = np.lib.format.open_memmap(scratch / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(len(paths), size, size, 3))
        _reserve(scratch / "images.npy", root, len(paths), size)

        def decode(index: int) -> None:
            images[index] = load_rgb(paths[index], size, interpolation, windows)
            if on_image:
                on_image()

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(decode, range(len(paths))))
        images.flush()
        del images
        manifest.frame[["case_id"]].to_csv(scratch / "index.csv", index=False)
        record = {**fingerprint(scratch / "images.npy"), "images": len(paths)}
        (scratch / "complete.json").write_text(json.dumps(record))  # written last
        try:
            scratch.rename(target)
        except OSError:  # another process finished the same entry first
            if ImageCache(target).damage() is not None:
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ImageCache(target)
