"""The result store: one directory per cell, written atomically, `result.json` last.

DIR/
  run.json                      the commands that wrote to DIR
  data/<task>-<data_id>/        manifest.csv, splits.csv, data.json (notes, counts, split id)
  cells/<cell_id>/              cell.json, split.csv, log.txt (every attempt, appended),
                                attempts.jsonl (one line per start), heartbeat.json (while it
                                runs), overrides.json (batch size lowered after out of memory),
                                submitted.json (Slurm), history.csv, predictions.csv,
                                result.json (done) or failure.json (failed), .lock
  slurm/                        submitit's job files and submissions.jsonl
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

DONE, FAILED, PENDING = "done", "failed", "pending"


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if it is absent or not valid JSON."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class CellDir:
    """One cell's directory."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / "cell.json"

    @property
    def result_file(self) -> Path:
        return self.path / "result.json"

    @property
    def failure_file(self) -> Path:
        return self.path / "failure.json"

    @property
    def log_file(self) -> Path:
        return self.path / "log.txt"

    @property
    def heartbeat_file(self) -> Path:
        return self.path / "heartbeat.json"

    @property
    def attempts_file(self) -> Path:
        return self.path / "attempts.jsonl"

    @property
    def overrides_file(self) -> Path:
        return self.path / "overrides.json"

    @property
    def submitted_file(self) -> Path:
        return self.path / "submitted.json"

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    def config(self) -> dict[str, Any] | None:
        return read_json(self.config_file)

    def heartbeat(self) -> dict[str, Any] | None:
        return read_json(self.heartbeat_file)

    def overrides(self) -> dict[str, Any]:
        return read_json(self.overrides_file) or {}

    def attempts(self) -> list[dict[str, Any]]:
        """One record per attempt that started (a line cut by a kill is ignored)."""
        records = []
        try:
            lines = self.attempts_file.read_text().splitlines()
        except OSError:
            return []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def append_attempt(self, record: dict[str, Any]) -> None:
        """Append one line (a single write, synced) to attempts.jsonl."""
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        with self.attempts_file.open("a") as stream:
            stream.write(line)
            stream.flush()
            os.fsync(stream.fileno())

    def result(self) -> dict[str, Any] | None:
        return read_json(self.result_file)

    def failure(self) -> dict[str, Any] | None:
        return read_json(self.failure_file)

    def status(self) -> str:
        if self.result() is not None:
            return DONE
        if self.failure() is not None:
            return FAILED
        return PENDING

    def record_failure(self, reason: str, kind: str, **extra: Any) -> None:
        atomic_write_json(self.failure_file, {"reason": reason, "kind": kind,
                                              "log": str(self.log_file), **extra})

    def clear_outputs(self) -> None:
        """Remove what an earlier, unfinished or failed attempt left (never result.json),
        including the temporary files of a write that a kill cut short."""
        for name in ("failure.json", "history.csv", "predictions.csv", "model.weights.h5",
                     "localization.csv"):
            (self.path / name).unlink(missing_ok=True)
        for leftover in self.path.glob(".*.*"):
            if leftover.name != self.lock_file.name and leftover.is_file():
                leftover.unlink(missing_ok=True)


def cells_root(out: Path) -> Path:
    return Path(out) / "cells"


def cell_dir(out: Path, cell_id: str) -> CellDir:
    return CellDir(cells_root(out) / cell_id)


def iter_cells(out: Path) -> Iterator[CellDir]:
    """Every cell directory of a run that has a readable cell.json."""
    root = cells_root(out)
    if not root.is_dir():
        return
    for path in sorted(root.iterdir()):
        cell = CellDir(path)
        if path.is_dir() and cell.config() is not None:
            yield cell
