"""Writing files so that a reader sees the old file or the whole new one: temporary file, fsync,
rename, with the mode a plain `open` or `mkdir` would give (the umask honoured). Used for the
run directory (radbench.store) and for every other file radbench writes (reports, task YAMLs,
weights records, caches)."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


def _current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (setting it to read
    it back would open a window in which other threads create files with mode 0666)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # elsewhere: the briefly set value is the restrictive one
    os.umask(mask)
    return mask


def umask_mode(directory: bool = False) -> int:
    """The mode a plain `open` or `mkdir` would give under the current umask (mkstemp and
    mkdtemp use 0600 and 0700 whatever it is, so colleagues could not read the results)."""
    return (0o777 if directory else 0o666) & ~_current_umask()


def make_temporary_dir(prefix: str, parent: Path) -> Path:
    """`tempfile.mkdtemp` in `parent`, with the mode `mkdir` would give (umask honoured)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    folder.chmod(umask_mode(directory=True))
    return folder


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one; the file
    gets the mode a plain `open` would give (the umask honoured)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, umask_mode())
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def written_beside(path: Path) -> Iterator[Path]:
    """A partial file beside `path` (same suffix, so libraries accept it) to write into; renamed
    to `path` when the block ends, removed if it fails: a kill or a full disk never leaves half
    a file under the real name."""
    path = Path(path)
    suffix = ".weights.h5" if path.name.endswith(".weights.h5") else path.suffix
    partial = path.with_name(f".{path.name[: -len(suffix) or None]}.partial{suffix}")
    try:
        yield partial
        partial.chmod(umask_mode())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; a line cut by a kill (or not an object) is
    skipped; an absent file gives []."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def append_json_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line in a single write, synced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with path.open("a") as stream:
        stream.write(line)
        stream.flush()
        os.fsync(stream.fileno())


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if it is absent or not valid JSON."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
