"""Stable ids: short sha256 hashes of canonical JSON, and file hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(data: Any, length: int = 16) -> str:
    """A short sha256 of the canonical JSON of `data`."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:length]


def _file_digest(path: Path, digest) -> str:
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Full sha256 of a file's bytes."""
    return _file_digest(path, hashlib.sha256())


def file_md5(path: Path) -> str:
    """MD5 of a file's bytes (what Keras and MedMNIST publish for their files)."""
    return _file_digest(path, hashlib.md5())
