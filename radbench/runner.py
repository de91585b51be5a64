"""`radbench run`: config → grid of cells → cell directories → executor → summary."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from radbench.cellspec import Cell, CellConfig, CellData
from radbench.config.load import load_grid, load_task
from radbench.config.schema import ExecutionSpec, SplitSpec, TaskConfig
from radbench.cost import Parts, estimate, kept_models_line
from radbench.data.adapters import get_adapter
from radbench.data.cache import build_cache
from radbench.data.external import prepare_site, site_roots
from radbench.data.prepare import PreparedData, data_root, prepare, windows_of
from radbench.data.published import resolve_split
from radbench.data.splits import train_subset
from radbench.terminal import short_sources
from radbench.errors import ConfigError
from radbench.execute.executor import ExecutorSettings
from radbench.execute.lock import FileLock
from radbench.execute.policy import RetryPolicy, machine_fault
from radbench.execute.registry import make_executor, queued_jobs
from radbench.execute.state import cell_state
from radbench.grid import cell_id, expand
from radbench.models.sources import check_source, normalize_source
from radbench.store import CellDir, CellState, RunDir


@dataclass
class RunOptions:
    """What `radbench run` was asked: the cells (task, grid, data...) and how to execute them."""

    task: str
    grid: str
    data: str | None = None
    out: Path = Path("runs/default")
    sources: list[str] | None = None
    max_images: int | None = None
    dry_run: bool = False
    retry_failed: bool = False
    max_parallel: int | None = None
    cache_dir: Path | None = None
    skip_bad: bool = False
    executor: str = "local"
    gpus: str | None = "auto"
    retries: int | None = None
    max_consecutive_failures: int | None = None
    executor_options: dict[str, Any] = field(default_factory=dict)  # the executor's own
    reuse_models: bool = True  # cells differing only in lr or fold share one built model
    split: str | None = None  # overrides the task's split scheme (e.g. published)
    splits: str | None = None  # folder of the authors' published split CSVs
    keep_model: str = "best"  # trained models kept (model.keras): all, best (one per task and
    # source, by validation AUC) or none
    tensorboard: bool = False  # every cell run now writes TensorBoard event files
    test_data: dict[str, str] = field(default_factory=dict)  # external sites: name -> folder

    def cells_part(self) -> dict[str, Any]:
        """The options that decide the cells (recorded in run.json for `radbench resume`)."""
        def absolute(value: str | None) -> str | None:  # resume may run from another folder
            return str(Path(value).resolve()) if value and Path(value).exists() else value

        return {"task": absolute(self.task), "grid": absolute(self.grid),
                "data": absolute(self.data),
                "sources": self.sources, "max_images": self.max_images,
                "split": self.split, "splits": absolute(self.splits),
                "cache_dir": str(self.cache_dir) if self.cache_dir else None,
                "skip_bad": self.skip_bad,
                "test_data": {k: absolute(v) for k, v in self.test_data.items()}}


@dataclass
class RunSummary:
    total: int
    skipped_done: int = 0
    ran: int = 0
    done: int = 0
    failed: list[str] = field(default_factory=list)
    skipped_failed: int = 0
    elsewhere: int = 0  # running in (or finished by) another process
    not_started: int = 0
    stopped_early: str | None = None
    degenerate: list[str] = field(default_factory=list)  # labels of degenerate finished cells
    submitted: int = 0
    job_id: str | None = None  # the scheduler's job, when the executor submitted the cells

    @property
    def any_failed(self) -> bool:
        return bool(self.failed) or self.skipped_failed > 0 or self.stopped_early is not None


def _write_cell(run: RunDir, cell: Cell, prepared: PreparedData, grid_name: str,
                cache_dirs: dict) -> CellDir:
    directory = run.cell(cell_id(cell, prepared.task, prepared.data_id))
    if directory.config() is None or directory.config_damage():  # absent, or damaged: rewrite
        key = (cell.training.image_size, cell.training.interpolation)
        groups = prepared.manifest.frame.set_index("case_id")["group"]
        directory.write_split(train_subset(prepared.fold_split(cell.fold), groups,
                                           cell.training.train_fraction, cell.seed, cell.fold))
        directory.write_config(CellConfig(
            cell_id=directory.id, cell=cell, grid=grid_name, task=prepared.task,
            data=CellData(root=str(prepared.manifest.root.resolve()), data_id=prepared.data_id,
                          split_id=prepared.split_id,
                          cache_dir=str(cache_dirs[key].directory))))
    return directory


def _record_invocation(run: RunDir, options: RunOptions) -> None:
    with FileLock(run.run_lock_file):  # two runs on one directory must not lose a record
        _append_invocation_checked(run, {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv,
                               "task": options.task, "grid": options.grid,
                               "options": options.cells_part(), "executor": options.executor})


def _append_invocation_checked(run: RunDir, invocation: dict[str, Any]) -> None:
    from radbench.store import RunRecordDamaged

    try:
        run.append_invocation(invocation)
    except RunRecordDamaged as exc:
        raise ConfigError(str(exc)) from None


def _checked_run_record(run: RunDir) -> dict[str, Any] | None:
    """run.json's record (None: none yet); a damaged one is a ConfigError naming it."""
    from radbench.store import RunRecordDamaged

    try:
        return run.run_record()
    except RunRecordDamaged as exc:
        raise ConfigError(str(exc)) from None


def check_same_data(run: RunDir, prepared: PreparedData) -> None:
    """A run directory holds one dataset per task: refuse another one (changed images, another
    --max-images or --data) with what changed, before anything is written, so the report never
    averages two datasets' cells as folds of one scenario."""
    for folder in run.data_dirs():
        info = folder.info() or {}
        if info.get("task") != prepared.task.name or info.get("data_id") == prepared.data_id:
            continue
        before = ", ".join(f"{k} {v}" for k, v in (info.get("counts") or {}).items())
        now = ", ".join(f"{k} {v}" for k, v in prepared.manifest.counts().items())
        raise ConfigError(
            f"{run.path}: already holds task {prepared.task.name} on other data (data id "
            f"{info.get('data_id')}: {before}, from {info.get('root')}); this run's data is "
            f"{prepared.data_id} ({now}, from {prepared.manifest.root}). The images, their "
            f"labels or --max-images changed: use a new --out for the new data")


def run_grid(options: RunOptions, console: Console | None = None) -> RunSummary:
    """Validate everything, prepare data and cells, then run what is not done yet."""
    console = console or Console(stderr=True)
    task, task_file = load_task(options.task)
    if options.split is not None:
        task = with_split_scheme(task, options.split)
    as_configured = task  # prepare() resolves it again and notes a fallback
    task, _ = resolve_split(task, options.splits)  # the published folds, or the fallback
    grid, _ = load_grid(options.grid)
    if options.tensorboard:
        check_tensorboard()
    if not options.dry_run:  # before the data check and the image cache, not after them
        from radbench.data.cache import default_cache_root
        from radbench.quiet import check_backend

        check_backend()
        from radbench.writable import check_writable

        check_writable(options.out, "--out")
        check_writable(options.cache_dir or default_cache_root(),
                       "--cache-dir" if options.cache_dir else
                       "image cache (set --cache-dir or RADBENCH_CACHE)")
    executor = make_executor(options.executor, ExecutorSettings(
        out=options.out, grid=grid, gpus=options.gpus, max_parallel=options.max_parallel,
        reuse_models=options.reuse_models, options=options.executor_options,
        dry_run=options.dry_run))
    if options.sources is not None and not options.sources:
        raise ConfigError("--sources: empty; expected comma-separated sources (e.g. "
                          "scratch,imagenet), or leave it out for the grid's")
    sources = [normalize_source(s) for s in (options.sources or grid.sources)]
    for source in sources:
        try:
            check_source(source, grid.backbones)
        except ConfigError as exc:
            if not options.dry_run:
                raise
            console.print(f"warning: {exc}", highlight=False)  # a plan may precede the weights
    if not options.dry_run:  # each file loaded into each backbone, before any cell trains
        from radbench.data.cache import default_cache_root
        from radbench.models.verify import verify_weights

        for source in sources:
            for backbone in grid.backbones:
                verify_weights(source, backbone, default_cache_root() / "weights-verified")
    cells = expand(grid, task, sources)
    get_adapter(task.data.adapter, task.key("data.adapter"))
    prepared = prepare(as_configured, data_root(task, task_file, options.data), options.max_images,
                       options.skip_bad, options.cache_dir, keep_inspection=not options.dry_run,
                       splits_dir=options.splits, task_ref=options.task)
    counts = ", ".join(f"{k} {v}" for k, v in prepared.manifest.counts().items())
    console.print(f"task {task.name}: {len(prepared.manifest.frame)} images ({counts}); "
                  f"split {prepared.split_id}; {len(cells)} cells", highlight=False)
    for note in prepared.manifest.notes:
        console.print(f"note: {note}", highlight=False)
    if prepared.check is not None and prepared.check.warnings:
        console.print(f"note: the integrity check gave {len(prepared.check.warnings)} warning(s); "
                      f"`radbench data check {options.task}"
                      f"{' --data ' + str(options.data) if options.data else ''}` lists them",
                      highlight=False)
    if prepared.skipped:
        console.print(f"note: --skip-bad left out {len(prepared.skipped)} image(s); listed in "
                      f"the run's data/ folder (skipped.csv)", highlight=False)
    sites = {name: prepare_site(task, name, root, prepared.manifest) for name, root in
             site_roots(task, task_file, options.test_data).items()}
    for site in sites.values():
        counts = ", ".join(f"{k} {v}" for k, v in site.manifest.counts().items())
        console.print(f"external site {site.name}: {len(site.manifest.frame)} images ({counts}) "
                      f"from {site.manifest.root}; checked, none in the task's data",
                      highlight=False)
    run = RunDir(options.out)
    check_same_data(run, prepared)  # before any image is decoded or file written
    _checked_run_record(run)  # a damaged record stops the run before any work
    if options.dry_run:
        summary = RunSummary(total=len(cells))
        to_do = []
        for cell in cells:
            existing = RunDir(options.out).cell(cell_id(cell, task, prepared.data_id))
            state = cell_state(existing).state if existing.config() else "new"
            console.print(f"  {state:8s} {cell.label()}", highlight=False)
            if state != CellState.DONE:
                to_do.append(cell)
        parts = {int(fold): Parts(**{p: int(n) for p, n in rows["part"].value_counts().items()
                                     if p in ("train", "val", "test")})
                 for fold, rows in prepared.splits.groupby("fold")}
        _print_plan(prepared, cells, console, grid_batch=grid.overrides.batch_size)
        console.print(estimate(to_do, parts, options.out, options.reuse_models).line(),
                      highlight=False)
        console.print(kept_models_line(to_do, options.keep_model), highlight=False)
        return summary
    _print_plan(prepared, cells, console, every_line=False,
                grid_batch=grid.overrides.batch_size)
    cache_dirs = {}
    for key in sorted({(c.training.image_size, c.training.interpolation) for c in cells}):
        cache_dirs[key] = build_cache(prepared.manifest, key[0], key[1], options.cache_dir,
                                      windows=windows_of(task))
    options.out.mkdir(parents=True, exist_ok=True)
    _record_invocation(run, options)
    prepared.write_to(run)
    directories = [_write_cell(run, c, prepared, grid.name, cache_dirs) for c in cells]
    with FileLock(run.run_lock_file):
        run.write_cells_index()
    # the terminal's labels: a `file:` source by its file's stem (cell.json keeps the path)
    labels = {d.id: short_sources(c.label()) for d, c in zip(directories, cells)}
    summary = RunSummary(total=len(cells))
    to_run = _select(directories, options, summary, console)
    for directory in to_run:
        directory.write_keep(model=options.keep_model, tensorboard=options.tensorboard)
    executed = executor.execute(to_run, labels, _policy(grid.execution, options), console)
    summary.ran = len(executed.done) + len(executed.failed)
    summary.done = len(executed.done)
    summary.failed = [f"{labels[cell.id]}: {reason}" for cell, reason in executed.failed]
    summary.elsewhere += len(executed.busy)
    summary.not_started = len(executed.not_started)
    summary.stopped_early = executed.stopped_early
    summary.submitted = executed.submitted
    summary.job_id = executed.job_id
    for directory in directories:  # all of the grid's finished cells, this run's and earlier
        result = directory.result()
        if result is not None and result.degenerate:
            summary.degenerate.append(labels[directory.id])
    if sites:  # the kept models of finished cells, on each site they have not scored yet
        from radbench.predict import score_sites

        scored = score_sites(options.out, task.name, {n: s.manifest for n, s in sites.items()})
        for name, count in scored.items():
            console.print(f"external site {name}: {count} kept model(s) scored now",
                          highlight=False)
    return summary


def _print_plan(prepared: PreparedData, cells: list[Cell], console: Console,
                every_line: bool = True, grid_batch: int | None = None) -> None:
    """The dry run's plan: per fold the images per part, the test part's classes and the
    optimizer steps; warnings for too few steps and underpowered test parts (only those
    unless `every_line`)."""
    from radbench.config.schema import PROBES
    from radbench.data.plan import fold_counts, plan_lines

    trained = [c for c in cells if c.freeze not in PROBES]
    epochs: dict[int, int] = {}
    for cell in trained:
        batch = cell.training.batch_size
        epochs[batch] = min(epochs.get(batch, cell.training.epochs), cell.training.epochs)
    counts = fold_counts(prepared.splits, prepared.manifest.frame, prepared.task.classes.names)
    lines, warnings = plan_lines(prepared.task.name, counts, epochs,
                                 sorted({c.fold for c in cells}), grid_batch)
    if every_line:
        console.print("plan:", highlight=False)
    for line in (lines if every_line else []) + warnings:
        console.print(line, highlight=False)


def check_tensorboard() -> None:
    """`--tensorboard` needs TensorFlow's summary writer (Keras' TensorBoard callback uses it
    under every backend): a ConfigError before anything is written when it is missing."""
    import importlib.util

    missing = [p for p in ("tensorflow", "tensorboard") if importlib.util.find_spec(p) is None]
    if missing:
        raise ConfigError(f"--tensorboard: writing TensorBoard event files needs "
                          f"{' and '.join(missing)} (Keras' TensorBoard callback uses tf.summary "
                          f"under every backend); pip install 'radbench[tensorboard]' (and "
                          f"tensorflow-cpu) or drop --tensorboard")


def _select(directories: list[CellDir], options: RunOptions, summary: RunSummary,
            console: Console) -> list[CellDir]:
    """The cells to run now: not done, not running or queued elsewhere; stale ones again."""
    queued = queued_jobs([s for s in (d.submitted() for d in directories) if s is not None])
    to_run, stale, damaged, faults = [], 0, 0, Counter()
    for directory in directories:
        state = cell_state(directory, queued=queued).state
        fault = machine_fault(directory.failure()) if state == CellState.FAILED else None
        if state == CellState.DONE:
            summary.skipped_done += 1
        elif state == CellState.FAILED and not options.retry_failed and fault is None:
            summary.skipped_failed += 1
        elif state in (CellState.RUNNING, CellState.QUEUED):
            summary.elsewhere += 1
        else:
            stale += state == CellState.STALE
            damaged += state == CellState.DAMAGED
            if fault is not None and not options.retry_failed:
                faults[fault] += 1
            to_run.append(directory)
    if summary.skipped_done or summary.skipped_failed:
        console.print(f"{summary.skipped_done} cell(s) already done, {summary.skipped_failed} "
                      f"failed earlier (--retry-failed re-runs them)", highlight=False)
    if summary.elsewhere:
        console.print(f"{summary.elsewhere} cell(s) running or queued elsewhere (left to them; "
                      f"`radbench status {options.out}` shows them)", highlight=False)
    if stale:
        console.print(f"{stale} interrupted cell(s) start again", highlight=False)
    if damaged:
        console.print(f"{damaged} damaged cell(s) (a record unreadable, out of its domain or "
                      f"another cell's; `radbench status` names the file) train again",
                      highlight=False)
    for fault, count in sorted(faults.items()):
        console.print(f"{count} cell(s) that failed on a fault of the machine ({fault}) start "
                      f"again", highlight=False)
    return to_run


def with_split_scheme(task: TaskConfig, scheme: str) -> TaskConfig:
    """The task with another split scheme (`radbench run --split`); its other split settings
    stay (they decide radbench's own kfold and holdout splits)."""
    from pydantic import ValidationError

    try:
        split = SplitSpec.model_validate({**task.split.model_dump(), "scheme": scheme})
    except ValidationError as exc:
        raise ConfigError(f"--split {scheme!r}: {exc.errors()[0]['msg']}") from None
    return task.model_copy(update={"split": split})


def _policy(spec: ExecutionSpec, options: RunOptions) -> RetryPolicy:
    return RetryPolicy(
        retries=spec.retries if options.retries is None else options.retries,
        max_consecutive_failures=spec.max_consecutive_failures
        if options.max_consecutive_failures is None else options.max_consecutive_failures,
        halve_batch_on_oom=spec.on_out_of_memory.halve_batch,
        min_batch_size=spec.on_out_of_memory.min_batch_size)


def resume_run(out: Path, template: RunOptions, console: Console | None = None
               ) -> list[RunSummary]:
    """Run again every distinct invocation recorded in OUT/run.json, with the execution
    settings of `template` (executor, slots, retries): interrupted and pending cells run,
    finished ones are skipped."""
    run = RunDir(out)
    if _checked_run_record(run) is None:
        raise ConfigError(f"{run.run_file}: not found; is {out} a "
                          f"run directory written by `radbench run`?")
    recorded = [i["options"] for i in run.invocations() if "options" in i]
    if not recorded:
        raise ConfigError(f"{run.run_file}: no invocation with its options (written "
                          f"by an older radbench); run the same `radbench run` command again")
    distinct = [json.loads(s) for s in sorted({json.dumps(o, sort_keys=True) for o in recorded})]
    summaries = []
    for cells_part in distinct:
        options = replace(template, out=Path(out), **{
            **cells_part, "cache_dir": Path(cells_part["cache_dir"])
            if cells_part.get("cache_dir") else None})
        summaries.append(run_grid(options, console))
    return summaries
