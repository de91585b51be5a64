"""Where a report's numbers come from: the commands that wrote the run, when, with which
versions and devices, on which data and split, with which grid. Read from the run directory
alone (run.json, data/*/data.json, the cells' cell.json and result.json)."""

from __future__ import annotations

import hashlib
import shlex
import time
from collections import Counter
from pathlib import Path
from typing import Any

from radbench.store import RunDir


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _counted(values: list) -> list[str]:
    """Distinct values, most common first, each with its count when there are several."""
    counts = Counter(v for v in values if v)
    if len(counts) <= 1:
        return [str(v) for v in counts]
    return [f"{v} ({n} cells)" for v, n in counts.most_common()]


def run_provenance(out: Path, report_command: list[str] | None = None) -> dict[str, Any]:
    """The provenance of run directory `out` as plain data (JSON-ready)."""
    run = RunDir(out)
    commands = [{"time": i.get("time"), "command": shlex.join(
        ["radbench", *i.get("argv", [])[1:]]) if i.get("argv") else None}
        for i in run.invocations()]
    grids, schemes, radbench, backends, devices, finished = [], {}, [], [], [], []
    for cell in run.cells():
        config = cell.config()
        if config is not None:
            grids.append(config.grid)
            schemes.setdefault(config.task.name, config.task.split.scheme)
        result = cell.result()
        if result is not None:
            radbench.append(result.versions.get("radbench"))
            backend = result.versions.get("backend")
            if backend:
                backends.append(f"{backend} {result.versions.get('backend_version') or ''} "
                                f"(Keras {result.versions.get('keras')})".replace("  ", " "))
            devices.append(result.device)
            if result.finished:
                finished.append(result.finished)
    data = []
    for folder in run.data_dirs():
        info = folder.info() or {}
        data.append({"task": info.get("task"), "root": info.get("root"),
                     "data_id": info.get("data_id"),
                     "manifest_sha256": _sha256(folder.manifest_file),
                     "split_scheme": schemes.get(info.get("task")),
                     "split_id": info.get("split_id")})
    from radbench import __version__

    return {
        "report_written": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "report_command": shlex.join(["radbench", *report_command]) if report_command else None,
        "report_radbench": __version__,
        "run_commands": commands,
        "grids": _counted(grids),
        "cells_finished": [min(finished), max(finished)] if finished else None,
        "radbench_versions": _counted(radbench),
        "backends": _counted(backends),
        "devices": _counted(devices),
        "data": data,
    }


def provenance_lines(provenance: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) rows for a report header; a missing entry says so."""
    def joined(values) -> str:
        return "; ".join(values) if values else "none recorded"

    rows = [("report", f"{provenance['report_written']}, radbench "
                       f"{provenance['report_radbench']}"
             + (f": {provenance['report_command']}" if provenance.get("report_command") else ""))]
    for entry in provenance["run_commands"] or [{"time": None, "command": None}]:
        rows.append(("run command", f"{entry['time'] or 'time not recorded'}: "
                                    f"{entry['command'] or 'not recorded (older radbench)'}"))
    finished = provenance.get("cells_finished")
    rows += [("cells finished", f"{finished[0]} to {finished[1]}" if finished else "none yet"),
             ("grid", joined(provenance["grids"])),
             ("radbench (cells)", joined(provenance["radbench_versions"])),
             ("backend", joined(provenance["backends"])),
             ("device", joined(provenance["devices"]))]
    for entry in provenance["data"]:
        rows.append((f"data: {entry['task']}",
                     f"{entry['root']}; data id {entry['data_id']}, manifest sha256 "
                     f"{(entry['manifest_sha256'] or 'missing')[:16]}; split "
                     f"{entry['split_scheme'] or '?'} ({entry['split_id']})"))
    return rows
