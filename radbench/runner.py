"""`radbench run`: config → grid of cells → cell directories → executor → summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console

from radbench.config.load import load_grid, load_task
from radbench.data.cache import build_cache
from radbench.data.prepare import PreparedData, data_root, prepare, windows_of
from radbench.execute.local import run_local
from radbench.execute.progress import GridProgress
from radbench.grid import Cell, cell_id, expand
from radbench.models.sources import check_source, normalize_source
from radbench.store import DONE, FAILED, CellDir, atomic_write_csv, atomic_write_json, cell_dir, \
    read_json


@dataclass
class RunOptions:
    task: str
    grid: str
    data: str | None = None
    out: Path = Path("runs/default")
    sources: list[str] | None = None
    max_images: int | None = None
    dry_run: bool = False
    retry_failed: bool = False
    max_parallel: int = 1
    cache_dir: Path | None = None
    skip_bad: bool = False


@dataclass
class RunSummary:
    total: int
    skipped_done: int = 0
    ran: int = 0
    done: int = 0
    failed: list[str] = field(default_factory=list)
    skipped_failed: int = 0

    @property
    def any_failed(self) -> bool:
        return bool(self.failed) or self.skipped_failed > 0


def _write_data(out: Path, prepared: PreparedData) -> Path:
    folder = out / "data" / f"{prepared.task.name}-{prepared.data_id}"
    if not (folder / "data.json").is_file():
        atomic_write_csv(folder / "manifest.csv", prepared.manifest.frame)
        atomic_write_csv(folder / "splits.csv", prepared.splits)
        atomic_write_json(folder / "data.json", {
            "task": prepared.task.name,
            "root": str(prepared.manifest.root.resolve()),
            "data_id": prepared.data_id,
            "split_id": prepared.split_id,
            "counts": prepared.manifest.counts(),
            "paper_counts": prepared.task.paper_counts,
            "dropped": prepared.manifest.dropped,
            "per_image_groups": prepared.manifest.per_image_groups,
            "notes": prepared.manifest.notes,
            "skipped_bad": len(prepared.skipped),
        })
        if prepared.check is not None:
            atomic_write_json(folder / "check.json", prepared.check.to_dict())
        if prepared.skipped:
            atomic_write_csv(folder / "skipped.csv", pd.DataFrame(prepared.skipped))
    return folder


def _write_cell(out: Path, cell: Cell, prepared: PreparedData, grid_name: str,
                cache_dirs: dict) -> CellDir:
    directory = cell_dir(out, cell_id(cell, prepared.task, prepared.data_id))
    if directory.config() is None:
        key = (cell.training.image_size, cell.training.interpolation)
        atomic_write_csv(directory.path / "split.csv", prepared.fold_split(cell.fold))
        atomic_write_json(directory.config_file, {
            "cell_id": directory.id,
            "cell": cell.to_dict(),
            "grid": grid_name,
            "task": prepared.task.model_dump(mode="json"),
            "data": {
                "root": str(prepared.manifest.root.resolve()),
                "data_id": prepared.data_id,
                "split_id": prepared.split_id,
                "cache_dir": str(cache_dirs[key].directory),
            },
        })
    return directory


def _record_invocation(out: Path, options: RunOptions) -> None:
    run_file = out / "run.json"
    record = read_json(run_file) or {"invocations": []}
    record["invocations"].append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                  "argv": sys.argv, "task": options.task, "grid": options.grid})
    atomic_write_json(run_file, record)


def run_grid(options: RunOptions, console: Console | None = None) -> RunSummary:
    """Validate everything, prepare data and cells, then run what is not done yet."""
    console = console or Console(stderr=True)
    task, task_file = load_task(options.task)
    grid, _ = load_grid(options.grid)
    sources = [normalize_source(s) for s in (options.sources or grid.sources)]
    for source in sources:
        check_source(source, grid.backbones)
    cells = expand(grid, task, sources)
    prepared = prepare(task, data_root(task, task_file, options.data), options.max_images,
                       options.skip_bad, options.cache_dir, keep_inspection=not options.dry_run)
    counts = ", ".join(f"{k} {v}" for k, v in prepared.manifest.counts().items())
    console.print(f"task {task.name}: {len(prepared.manifest.frame)} images ({counts}); "
                  f"split {prepared.split_id}; {len(cells)} cells", highlight=False)
    for note in prepared.manifest.notes:
        console.print(f"note: {note}", highlight=False)
    if prepared.check is not None and prepared.check.warnings:
        console.print(f"note: the integrity check gave {len(prepared.check.warnings)} warning(s); "
                      f"`radbench data check {task.name}` lists them", highlight=False)
    if prepared.skipped:
        console.print(f"note: --skip-bad left out {len(prepared.skipped)} image(s); listed in "
                      f"the run's data/ folder (skipped.csv)", highlight=False)
    if options.dry_run:
        summary = RunSummary(total=len(cells))
        for cell in cells:
            existing = cell_dir(options.out, cell_id(cell, task, prepared.data_id))
            state = existing.status() if existing.config() else "new"
            console.print(f"  {state:8s} {cell.label()}", highlight=False)
        return summary
    cache_dirs = {}
    for key in sorted({(c.training.image_size, c.training.interpolation) for c in cells}):
        cache_dirs[key] = build_cache(prepared.manifest, key[0], key[1], options.cache_dir,
                                      windows=windows_of(task))
    options.out.mkdir(parents=True, exist_ok=True)
    _record_invocation(options.out, options)
    _write_data(options.out, prepared)
    directories = [_write_cell(options.out, c, prepared, grid.name, cache_dirs) for c in cells]
    labels = {d.id: c.label() for d, c in zip(directories, cells)}
    summary = RunSummary(total=len(cells))
    to_run = []
    for directory in directories:
        status = directory.status()
        if status == DONE:
            summary.skipped_done += 1
        elif status == FAILED and not options.retry_failed:
            summary.skipped_failed += 1
        else:
            to_run.append(directory)
    if summary.skipped_done or summary.skipped_failed:
        console.print(f"{summary.skipped_done} cell(s) already done, {summary.skipped_failed} "
                      f"failed earlier (--retry-failed re-runs them)", highlight=False)
    with GridProgress(len(to_run), console) as progress:
        def finished(directory: CellDir, ok: bool, reason: str | None, seconds: float) -> None:
            result = directory.result() if ok else None
            summary.ran += 1
            if ok:
                summary.done += 1
            else:
                summary.failed.append(f"{labels[directory.id]}: {reason}")
            progress.finished_cell(labels[directory.id], ok,
                                   result["test_auc"] if result else None, seconds, reason)

        run_local(to_run, options.max_parallel,
                  on_start=lambda d: progress.started_cell(labels[d.id]), on_finish=finished)
    return summary
