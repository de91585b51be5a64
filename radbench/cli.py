"""The radbench command line: parses arguments and calls one library function per command."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console

from radbench.errors import ConfigError, RadbenchError
from radbench.execute.registry import EXECUTORS, executors_help
from radbench.metrics import metrics_help

app = typer.Typer(help="Reproduce and re-test the RadImageNet transfer-learning benchmark.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=True,
                  rich_markup_mode=None)
grid_app = typer.Typer(help="Inspect grids.", no_args_is_help=True)
task_app = typer.Typer(help="Create task configs.", no_args_is_help=True)
app.add_typer(grid_app, name="grid")
data_app = typer.Typer(help="Check and fetch datasets.", no_args_is_help=True)
app.add_typer(task_app, name="task")
app.add_typer(data_app, name="data")
export_app = typer.Typer(help="Export a run to experiment trackers.", no_args_is_help=True)
app.add_typer(export_app, name="export")
weights_app = typer.Typer(help="Pretrained weight files: fetch, import, status.",
                          no_args_is_help=True)
app.add_typer(weights_app, name="weights")

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        from radbench import __version__

        out.print(f"radbench {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_print_version,
                                      is_eager=True, help="print radbench's version and exit")
         ) -> None:
    """Reproduce and re-test the RadImageNet transfer-learning benchmark."""


TRAINING_COMMANDS = {"run", "resume", "demo"}  # whose stop keeps finished cells


def reports_errors(command: Callable) -> Callable:
    """Bad input becomes one line on stderr and exit code 2 (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RadbenchError as exc:
            err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: finished cells are kept; run the same command to go on")
            raise typer.Exit(130) from None
        except OSError as exc:  # the file system failed under a started command
            from radbench.writable import FILESYSTEM_ERRNOS, PATH_ERRNOS, describe_os_error

            if exc.errno in PATH_ERRNOS:  # a path that cannot be one: bad input
                err.print(f"error: {exc.filename}: {PATH_ERRNOS[exc.errno]}; give another path",
                          highlight=False, markup=False, soft_wrap=True)
                raise typer.Exit(2) from None
            if exc.errno not in FILESYSTEM_ERRNOS:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            trains = command.__name__ in TRAINING_COMMANDS
            after = ("stopped. Finished cells and the run record are kept; free space (or fix "
                     "the permissions) and run the same command to go on") if trains else (
                "stopped; free space (or fix the permissions) and run the same command again")
            err.print(f"error: {where}{describe_os_error(exc)}; {after}", highlight=False,
                      markup=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _split_list(value: Optional[str]) -> Optional[list[str]]:
    """A comma-separated option as a list; None when the option was not given ([] when it was
    given empty, which the library refuses)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value is not None else None


# execution options, shared by `run` and `resume`
EXECUTOR = typer.Option("local", "--executor", help=executors_help())
EXECUTOR_OPTIONS = typer.Option(None, "--executor-option", help="the executor's own setting "
                                "(repeatable), over the grid's executors.NAME section, e.g. "
                                "mem_gb=32")
GPUS = typer.Option("auto", "--gpus", help="local slots: 'auto' (every visible GPU, else the "
                    "CPU), 'cpu', or GPU ids like 0,1,2,3 (one cell process per GPU)")
MAX_PARALLEL = typer.Option(None, "--max-parallel", min=1, help="cells at once (CPU slots; "
                            "caps GPU slots)")
RETRIES = typer.Option(None, "--retries", min=0, help="extra attempts for transient failures: "
                       "out of memory, crash, preemption (default: the grid's execution.retries)")
MAX_FAILURES = typer.Option(None, "--max-consecutive-failures", min=0, help="stop after this "
                            "many cells in a row failed; 0: never (default: the grid's, or 5)")
PARTITION = typer.Option(None, "--slurm-partition", help="sbatch --partition")
GPUS_PER_TASK = typer.Option(None, "--slurm-gpus-per-task", min=0, help="GPUs per cell's job")
SLURM_TIME = typer.Option(None, "--slurm-time", min=1, help="time limit of one cell, minutes")
PARALLELISM = typer.Option(None, "--array-parallelism", min=1, help="array tasks at once")
REUSE = typer.Option(True, "--reuse-models/--no-reuse-models", help="local: cells that differ "
                     "only in learning rate or fold run in one process on one built, traced "
                     "model (same results, less start-up); off: one process per cell")
KEEP_MODELS = typer.Option(False, "--keep-models", help="the same as --keep-weights all")
KEEP_WEIGHTS = typer.Option(None, "--keep-weights", metavar="all|best|none", help="trained "
                            "models (the kept epoch) kept as model.keras for `radbench "
                            "predict`: best (default): one per task and source, the cell with "
                            "the best validation AUC; all: every cell's; none")


def _keep(keep_models: bool, keep_weights: str | None) -> str:
    """The models a run keeps: --keep-weights, or all for --keep-models; best by default."""
    if keep_weights is not None and keep_weights not in ("all", "best", "none"):
        raise ConfigError(f"--keep-weights {keep_weights!r}: expected all, best or none")
    if keep_models and keep_weights not in (None, "all"):
        raise ConfigError(f"--keep-models keeps every model, --keep-weights {keep_weights} "
                          f"does not: give one of them")
    return "all" if keep_models else keep_weights or "best"
TENSORBOARD = typer.Option(False, "--tensorboard", help="write TensorBoard event files per cell "
                           "(CELL/tensorboard; `tensorboard --logdir DIR/cells`)")


def _execution(executor: str, gpus: str, max_parallel: Optional[int], retries: Optional[int],
               max_failures: Optional[int], partition: Optional[str],
               gpus_per_task: Optional[int], slurm_time: Optional[int],
               parallelism: Optional[int], reuse: bool = True,
               executor_options: Optional[list[str]] = None) -> dict:
    import yaml

    options = {}
    for item in executor_options or []:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"--executor-option {item!r}: expected KEY=VALUE (e.g. mem_gb=32)")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            options[key.strip()] = value
    slurm = {"--slurm-partition": ("partition", partition),
             "--slurm-gpus-per-task": ("gpus_per_task", gpus_per_task),
             "--slurm-time": ("time_min", slurm_time),
             "--array-parallelism": ("array_parallelism", parallelism)}
    given = [flag for flag, (_, value) in slurm.items() if value is not None]
    if given and executor != "slurm":
        raise ConfigError(f"{given[0]}: a setting of --executor slurm (this run uses "
                          f"--executor {executor})")
    options.update({key: value for key, value in slurm.values() if value is not None})
    return {"executor": executor, "gpus": gpus, "max_parallel": max_parallel,
            "reuse_models": reuse, "retries": retries, "max_consecutive_failures": max_failures,
            "executor_options": options}


def _print_summary(summary, out_dir: Path) -> None:
    if summary.job_id:
        return
    err.print(f"{summary.total} cell(s): {summary.skipped_done} already done, {summary.done} "
              f"done now, {len(summary.failed)} failed now, {summary.skipped_failed} failed "
              f"earlier" + (f", {summary.elsewhere} running elsewhere" if summary.elsewhere
                            else "") + f"; results in {out_dir}", highlight=False)
    for line in summary.failed:
        err.print(f"failed: {line}", highlight=False, markup=False)
    if summary.degenerate:
        err.print(f"warning: {len(summary.degenerate)} finished cell(s) are DEGENERATE: every "
                  f"test case got the same score, so their AUC (0.5 or ties) says nothing about "
                  f"the model; `radbench status {out_dir} --all` lists them",
                  highlight=False, markup=False)
        for line in summary.degenerate:
            err.print(f"degenerate: {line}", highlight=False, markup=False)
    if summary.stopped_early:
        err.print(f"{summary.stopped_early}; {summary.not_started} cell(s) not started; run the "
                  f"same command to go on", highlight=False, markup=False)


@app.command(epilog="Example: radbench run breast --grid quick --data ~/BUSI --out runs/busi")
@reports_errors
def run(
    task: str = typer.Argument(..., help="a shipped task name (e.g. breast) or a task YAML path"),
    grid: str = typer.Option(..., "--grid", help="a shipped grid name (smoke, full) or a YAML path"),
    data: Optional[str] = typer.Option(None, help="dataset folder (overrides the task's data.root)"),
    out_dir: Path = typer.Option(Path("runs/default"), "--out", help="run directory"),
    sources: Optional[str] = typer.Option(None, help="comma-separated sources, overriding the grid"),
    max_images: Optional[int] = typer.Option(None, min=8, help="stratified, patient-grouped subset"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the cells, write nothing"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="run failed cells again"),
    test_data: Optional[list[str]] = typer.Option(
        None, "--test-data", metavar="[NAME=]PATH", help="an external validation site (another "
        "hospital's images of the task, read by the same adapter; repeatable): the kept models "
        "are scored on it, and the report compares sources per site; on a finished run it "
        "scores the kept models without training"),
    cache_dir: Optional[Path] = typer.Option(None, help="image cache (default ~/.cache/radbench)"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="leave out the images the integrity "
                                  "check rejects (listed in the run's data/ folder)"),
    split: Optional[str] = typer.Option(None, help="split scheme instead of the task's: "
                                        "published (the authors' folds), kfold, holdout"),
    splits: Optional[str] = typer.Option(None, envvar="RADBENCH_SPLITS", help="folder of the "
                                         "authors' split CSVs (`radbench data fetch "
                                         "radimagenet-splits`)"),
    executor: str = EXECUTOR, gpus: str = GPUS, max_parallel: Optional[int] = MAX_PARALLEL,
    retries: Optional[int] = RETRIES, max_failures: Optional[int] = MAX_FAILURES,
    partition: Optional[str] = PARTITION, gpus_per_task: Optional[int] = GPUS_PER_TASK,
    slurm_time: Optional[int] = SLURM_TIME, parallelism: Optional[int] = PARALLELISM,
    executor_options: Optional[list[str]] = EXECUTOR_OPTIONS,
    reuse: bool = REUSE, keep_models: bool = KEEP_MODELS,
    keep_weights: Optional[str] = KEEP_WEIGHTS, tensorboard: bool = TENSORBOARD,
) -> None:
    """Run every cell of GRID on TASK that is not done yet; finished cells are skipped,
    interrupted ones start again."""
    from radbench.data.external import parse_test_data
    from radbench.runner import RunOptions, run_grid

    summary = run_grid(RunOptions(
        task, grid, data, out_dir, _split_list(sources), max_images, dry_run, retry_failed,
        cache_dir=cache_dir, skip_bad=skip_bad, split=split, splits=splits,
        keep_model=_keep(keep_models, keep_weights), tensorboard=tensorboard,
        test_data=parse_test_data(test_data), **_execution(
            executor, gpus, max_parallel, retries, max_failures, partition, gpus_per_task,
            slurm_time, parallelism, reuse, executor_options)), err)
    if dry_run:
        return
    _print_summary(summary, out_dir)
    if summary.any_failed:
        raise typer.Exit(1)


@app.command(epilog="Example: radbench resume runs/busi --max-parallel 2")
@reports_errors
def resume(
    run_dir: Path = typer.Argument(..., help="a run directory written by `radbench run`"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="run failed cells again"),
    executor: str = EXECUTOR, gpus: str = GPUS, max_parallel: Optional[int] = MAX_PARALLEL,
    retries: Optional[int] = RETRIES, max_failures: Optional[int] = MAX_FAILURES,
    partition: Optional[str] = PARTITION, gpus_per_task: Optional[int] = GPUS_PER_TASK,
    slurm_time: Optional[int] = SLURM_TIME, parallelism: Optional[int] = PARALLELISM,
    executor_options: Optional[list[str]] = EXECUTOR_OPTIONS,
    reuse: bool = REUSE, keep_models: bool = KEEP_MODELS,
    keep_weights: Optional[str] = KEEP_WEIGHTS, tensorboard: bool = TENSORBOARD,
) -> None:
    """Go on with a run: the `radbench run` commands recorded in DIR/run.json run again;
    interrupted and pending cells run, finished cells are kept."""
    from radbench.runner import RunOptions, resume_run

    template = RunOptions("", "", retry_failed=retry_failed,
                          keep_model=_keep(keep_models, keep_weights),
                          tensorboard=tensorboard, **_execution(
        executor, gpus, max_parallel, retries, max_failures, partition, gpus_per_task,
        slurm_time, parallelism, reuse, executor_options))
    summaries = resume_run(run_dir, template, err)
    for summary in summaries:
        _print_summary(summary, run_dir)
    if any(s.any_failed for s in summaries):
        raise typer.Exit(1)


@app.command(epilog="Example: radbench status runs/busi --all")
@reports_errors
def status(
    run_dir: Path = typer.Argument(..., help="a run directory written by `radbench run`"),
    show_all: bool = typer.Option(False, "--all", help="list the done cells too"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object: counts and cells"),
    watch: Optional[float] = typer.Option(None, "--watch", min=1.0, help="refresh every N "
                                          "seconds until no cell is running or queued"),
) -> None:
    """Done / running / stale (interrupted) / failed / queued / pending cells of a run, with
    each running cell's slot or Slurm job, epoch and heartbeat."""
    from radbench.execute.status_view import follow_status, print_status

    if watch:
        follow_status(run_dir, watch, out)
    else:
        print_status(run_dir, out, show_all, as_json)


@app.command(epilog="Example: radbench report runs/busi --baseline imagenet --format md,html")
@reports_errors
def report(
    run_dir: Path = typer.Argument(..., help="a run directory written by `radbench run`"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    compare: Optional[str] = typer.Option(None, help="compare two sources only: A,B (as the "
                                          "report names them)"),
    baseline: Optional[str] = typer.Option(None, help="the source the others are compared with "
                                           "(default: imagenet when present, else scratch)"),
    formats: str = typer.Option("md,csv,json,html", "--format",
                                help="files to write: md,csv,json,tex,html"),
    metric: str = typer.Option("auc", "--metric", help="the metric of the headline, the paper "
                               "table and the paired tests: " + metrics_help()),
) -> None:
    """Mean ± SD of the scenario test AUC per task × source (and per backbone), paired
    Wilcoxon comparisons between sources, per-cell bootstrap and DeLong CIs."""
    from radbench.report.build import build_report
    from radbench.report.formats import parse_formats, print_report, to_json, write_report

    from radbench.errors import ConfigError
    from radbench.writable import check_writable

    chosen, unwritable = parse_formats(formats), None
    result = build_report(run_dir, compare, baseline=baseline, metric=metric,
                          command=sys.argv[1:])
    try:
        check_writable(run_dir, "run folder")
    except ConfigError as exc:  # a read-only archive still gets its report, printed
        chosen, unwritable = [], str(exc)
    written = write_report(run_dir, result, chosen) if chosen else []
    if as_json:
        print(to_json(result))
    else:
        print_report(result, out)
    if written:
        err.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
    elif unwritable:
        err.print(f"warning: {unwritable}; the report is printed only (copy the folder to "
                  f"write its files)", highlight=False, markup=False, soft_wrap=True)


@app.command(epilog="Example: radbench predict runs/busi --data ~/new_cases --out scores.csv")
@reports_errors
def predict(
    target: Path = typer.Argument(..., help="a cell directory (RUN/cells/<id>) or a run "
                                  "directory (the best kept cell of each source, on validation)"),
    data: Path = typer.Option(..., "--data", help="an image file or a folder of them"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="CSV file to write (default: "
                                            "print the CSV)"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --out file"),
) -> None:
    """Score new images with models kept by `radbench run` (the best cell's per task and source
    by default; `--keep-weights all` keeps every cell's), each decoded as its
    cell's own images were (size, interpolation, windows)."""
    from radbench.predict import predict as predict_images, write_predictions
    from radbench.writable import check_output_file

    if out_file is not None:
        check_output_file(out_file, "--out", force)
    frame = predict_images(target, data)
    if out_file is None:
        print(frame.to_csv(index=False), end="")
    else:
        written = write_predictions(frame, out_file)
        err.print(f"{len(frame)} prediction(s) by {frame['cell_id'].nunique()} cell(s) "
                  f"written to {written}", highlight=False)


@export_app.command("mlflow", epilog="Example: radbench export mlflow runs/busi "
                    "--tracking-uri http://localhost:5000")
@reports_errors
def export_mlflow(
    run_dir: Path = typer.Argument(..., help="a run directory written by `radbench run`"),
    uri: Optional[str] = typer.Option(None, "--tracking-uri", help="an MLflow tracking URI "
                                      "(http://..., sqlite:///FILE.db), a .db file or a local "
                                      "folder (default: $MLFLOW_TRACKING_URI, else "
                                      "sqlite:///DIR/mlflow.db)"),
    experiment: Optional[str] = typer.Option(None, help="experiment name (default: "
                                             "radbench-<DIR's name>)"),
) -> None:
    """Log every finished cell as one MLflow run (params: its resolved config; metrics: history
    and test metrics; artifacts: its files). Cells already logged are skipped."""
    from radbench.export_mlflow import export_mlflow as export

    summary = export(run_dir, uri, experiment, log=lambda line: err.print(line, highlight=False))
    err.print(f"{len(summary.logged)} cell(s) logged now, {len(summary.skipped)} already "
              f"logged, {summary.not_finished} not finished; experiment {summary.experiment!r} "
              f"at {summary.tracking_uri}", highlight=False)


@app.command(epilog="Example: radbench cam runs/busi --threshold 0.5")
@reports_errors
def cam(
    run_dir: Path = typer.Argument(..., help="a run directory written by `radbench run`"),
    threshold: float = typer.Option(0.5, min=0.01, max=1.0,
                                    help="binarise each map at this share of its maximum"),
) -> None:
    """Grad-CAM lesion localization (Dice, IoU, pointing game) for the finished cells of tasks
    with masks (resumable, cells done at this threshold are skipped); for tasks without masks,
    heat maps only: overlays from each source's kept model under DIR/heatmaps/."""
    from radbench.report.heatmaps import NO_MASKS, write_heatmaps
    from radbench.train.localization import run_cam

    counts = run_cam(run_dir, threshold, log=lambda line: err.print(line, highlight=False))
    err.print(f"{counts['done_now']} cell(s) localized now, {counts['already']} already done, "
              f"{counts['no_weights']} without stored weights"
              + (f", {counts['no_gradcam']} of backbones without Grad-CAM (ConvNeXt)"
                 if counts["no_gradcam"] else ""), highlight=False)
    if counts["no_masks"]:
        written = write_heatmaps(run_dir)
        err.print(f"{counts['no_masks']} finished cell(s) of tasks without lesion masks: "
                  f"{NO_MASKS}; wrote {len(written)} overlay(s) from the kept model of each "
                  f"source under {run_dir / 'heatmaps'}" if written else
                  f"{counts['no_masks']} finished cell(s) of tasks without lesion masks: "
                  f"{NO_MASKS}, but none kept its model (`radbench run` keeps the best cell's "
                  f"of each source unless --keep-weights none)", highlight=False)


@grid_app.command("show", epilog="Example: radbench grid show quick --task thyroid")
@reports_errors
def grid_show(
    grid: str = typer.Argument(..., help="a shipped grid name or a YAML path"),
    task: str = typer.Option("breast", help="task whose split decides the folds"),
    sources: Optional[str] = typer.Option(None, help="comma-separated sources, overriding the grid"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per cell"),
) -> None:
    """The cells a grid expands to."""
    from radbench.config.load import load_grid, load_task
    from radbench.grid import expand

    task_config, _ = load_task(task)
    grid_config, _ = load_grid(grid)
    cells = expand(grid_config, task_config, _split_list(sources))
    if as_json:
        keys = ("backbone", "source", "freeze", "lr", "fold", "seed")
        print(json.dumps([{k: getattr(c, k) for k in keys} | {"training": c.training.model_dump(
            mode="json")} for c in cells], indent=1))
        return
    for cell in cells:
        out.print(cell.label(), highlight=False)
    err.print(f"{len(cells)} cell(s) of grid {grid_config.name} on task {task_config.name}",
              highlight=False)


@task_app.command("init",
    epilog="Example: radbench task init covidct --layout folders --data scans --positive covid")
@reports_errors
def task_init(
    name: str = typer.Argument(..., help="name of the new task"),
    layout: Optional[str] = typer.Option(None, help="folders (class = folder name) or csv; "
                                         "default: csv for a file, folders for a folder"),
    data: Path = typer.Option(..., help="dataset folder (folders) or CSV file (csv)"),
    positive: Optional[str] = typer.Option(None, help="the positive class"),
    all_classes: bool = typer.Option(False, "--all-classes", help="keep every class of the "
                                     "data: three or more make a multi-class task (no positive "
                                     "class; macro one-vs-rest AUC)"),
    group_pattern: Optional[str] = typer.Option(None, help="regex on file names; group 1 = patient"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="where to write (default NAME.yaml)"),
    force: bool = typer.Option(False, help="overwrite an existing file"),
) -> None:
    """Write a valid task YAML for a new dataset, with the classes read from the data."""
    from radbench.taskinit import init_task

    written, summary = init_task(name, layout, data, positive, group_pattern,
                                 out_file or Path(f"{name}.yaml"), force, all_classes)
    err.print(summary, highlight=False)
    out.print(str(written))


@data_app.command("check", epilog="Example: radbench data check breast --data ~/data/BUSI")
@reports_errors
def data_check(
    task: str = typer.Argument(..., help="a shipped task name or a task YAML path"),
    data: Optional[str] = typer.Option(None, help="dataset folder (overrides the task's data.root)"),
    as_json: bool = typer.Option(False, "--json", help="the full report as JSON"),
) -> None:
    """Read every image of TASK's dataset and list every problem at once; writes nothing.
    Exit code 2 when there are errors (which `radbench run` would refuse)."""
    from radbench.config.load import load_task
    from radbench.data.check import check_dataset, report_lines
    from radbench.data.prepare import data_root

    task_config, task_file = load_task(task)
    report = check_dataset(task_config, data_root(task_config, task_file, data))
    if as_json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        for line in report_lines(report):
            out.print(line, highlight=False, markup=False)
    if report.errors:
        raise typer.Exit(2)


@data_app.command("fetch", epilog="Example: radbench data fetch radimagenet-splits")
@reports_errors
def data_fetch(
    name: str = typer.Argument(..., help="e.g. breastmnist, pneumoniamnist_64, "
                               "radimagenet-splits (the authors' split CSVs); or a set behind a "
                               "login (mrnet, rsna_pneumonia, ...) for where to get it"),
    dest: Optional[Path] = typer.Option(None, help="folder (default $RADBENCH_DATA or "
                                        "~/.cache/radbench/datasets)"),
    mirror: Optional[str] = typer.Option(None, envvar="RADBENCH_MIRROR",
                                         help="base URL serving the same files"),
    timeout: float = typer.Option(30.0, help="seconds without data before giving up"),
) -> None:
    """Download a public dataset file (resumable, MD5 checked), or say where to get it."""
    from radbench.data.fetch import BY_HAND, by_hand_lines, fetch
    from radbench.data.published import SPLITS_FOLDER, fetch_splits

    if name == SPLITS_FOLDER.replace("_", "-"):
        for path in fetch_splits(dest, timeout=timeout):
            out.print(str(path), highlight=False)
        return
    if name in BY_HAND:
        for line in by_hand_lines(name):
            out.print(line, highlight=False, markup=False)
        return
    path = fetch(name, dest, mirror, timeout)
    out.print(str(path), highlight=False)


@weights_app.command("fetch",
    epilog="Example: radbench weights fetch imagenet --backbones ResNet50,DenseNet121")
@reports_errors
def weights_fetch(
    source: str = typer.Argument(..., help="imagenet"),
    backbones: Optional[str] = typer.Option(None, help="comma-separated (default: all)"),
) -> None:
    """Download ImageNet notop weights through Keras (hash-checked) into Keras' cache; run it on
    a machine with network (e.g. a cluster login node) before a grid."""
    from radbench.errors import ConfigError
    from radbench.models.backbones import BACKBONES
    from radbench.models.weights import fetch_imagenet

    if source != "imagenet":
        raise ConfigError(f"weights fetch {source!r}: only imagenet can be downloaded; RadImageNet "
                          f"files come from the authors (`radbench weights import radimagenet DIR`)")
    every = [name for name, backbone in BACKBONES.items() if backbone.imagenet]
    for path in fetch_imagenet(_split_list(backbones) or every):
        out.print(str(path), highlight=False)


@weights_app.command("import",
    epilog="Example: radbench weights import radimagenet ~/Downloads/RadImageNet_models")
@reports_errors
def weights_import(
    source: str = typer.Argument(..., help="radimagenet"),
    folder: Path = typer.Argument(..., help="folder holding RadImageNet-<Arch>_notop.h5 files"),
) -> None:
    """Check that each released Keras 2 file loads into the matching Keras 3 backbone, then store
    it with its sha256 where the `radimagenet` source finds it.

    The files: RadImageNet-InceptionV3_notop.h5, RadImageNet-ResNet50_notop.h5,
    RadImageNet-DenseNet121_notop.h5 and RadImageNet-IRV2_notop.h5, released by the authors
    through the download link in the README of https://github.com/BMEII-AI/RadImageNet."""
    from radbench.errors import ConfigError
    from radbench.models.weights import import_radimagenet

    if source != "radimagenet":
        raise ConfigError(f"weights import {source!r}: expected radimagenet")
    for entry in import_radimagenet(folder):
        out.print(f"{entry['backbone']}: {entry['file']} sha256 {entry['sha256']}", highlight=False)


@weights_app.command("status", epilog="Example: radbench weights status")
@reports_errors
def weights_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Per source and backbone: present or not, where, and its hash."""
    from radbench.models.weights import weights_status as status

    rows = status()
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    import pandas as pd

    from radbench.terminal import fitted_table

    frame = pd.DataFrame([{"source": r["source"], "backbone": r["backbone"], "state": r["state"],
                           "file": r["path"], "hash": " ".join(
                               w[:12] for w in str(r["hash"] or "").split())} for r in rows])
    out.print(fitted_table("", frame, out.width)[0], soft_wrap=False)  # full hashes: --json
    from radbench.models.weights import IMAGENET_WHERE, RADIMAGENET_WHERE

    if any(r["state"] != "ok" for r in rows if r["source"] == "radimagenet"):
        out.print(RADIMAGENET_WHERE, highlight=False, markup=False, soft_wrap=False)
    if any(r["state"] != "ok" for r in rows if r["source"] == "imagenet"):
        out.print(IMAGENET_WHERE, highlight=False, markup=False, soft_wrap=False)


@weights_app.command("export",
    epilog="Example: radbench weights export radimagenet --backbone DenseNet121 --format "
           "torchvision --out RadImageNet-DenseNet121.pth")
@reports_errors
def weights_export(
    source: str = typer.Argument(..., help="imagenet, radimagenet, scratch or file:PATH"),
    backbone: str = typer.Option(..., "--backbone", help="ResNet50 or DenseNet121 (torchscript, "
                                 "torchvision, timm), InceptionResNetV2 (torchscript, timm); "
                                 "any backbone (keras)"),
    fmt: Optional[str] = typer.Option(None, "--format", help="torchscript (a traced model: "
                                      "torch.jit.load, no radbench; ResNet50's default), "
                                      "torchvision or timm (a state_dict for that library's "
                                      "model; the others' default) or keras (a Keras 3 "
                                      ".weights.h5)"),
    out_file: Path = typer.Option(..., "--out", help="the file to write (.pth, or .weights.h5)"),
    task: Optional[str] = typer.Option(None, "--task", help="check on this task's images "
                                       "(with --data) instead of generated ones"),
    data: Optional[str] = typer.Option(None, "--data", help="the task's dataset folder"),
    tolerance: float = typer.Option(1e-4, "--tolerance", min=0.0, help="largest feature "
                                    "difference allowed, relative to the features' scale"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --out file"),
    image_size: Optional[int] = typer.Option(None, "--image-size", min=32, help="onnx: the "
                                             "exported graph's input size (default 256); also "
                                             "the check images' size"),
) -> None:
    """Write a backbone's weights for PyTorch (a TorchScript model, or a state_dict for
    torchvision's or timm's model, strict load), for ONNX Runtime (any backbone) or Keras 3.
    Both models first run on the same images; nothing is written unless their pooled features
    agree within the tolerance."""
    from radbench.models.export import EXPORTERS, STRIDE_MOVE, check_request, default_format, \
        export_weights
    from radbench.writable import check_output_file

    fmt = fmt or default_format(backbone)
    check_request(backbone, fmt)
    check_output_file(out_file, "--out", force)
    pixels = None
    if task:
        from radbench.data.sample import task_images

        pixels = task_images(task, data, image_size or 128, 16)
    check = export_weights(source, backbone, fmt, out_file, pixels, tolerance, image_size)
    if check is not None:
        out.print(f"checked on {check.images} image(s): largest feature difference "
                  f"{check.max_abs_difference:.3g} ({check.relative:.2g} of the features' scale "
                  f"{check.feature_scale:.3g}; tolerance {tolerance:g})", highlight=False)
    out.print(f"wrote {out_file} ({fmt})", highlight=False)
    if fmt in ("torchvision", "timm") and backbone in EXPORTERS and EXPORTERS[backbone].adjust:
        out.print(STRIDE_MOVE.replace("PATH", repr(str(out_file))), highlight=False,
                  markup=False)
    elif fmt == "torchscript":
        out.print(f"load it with: model = torch.jit.load({str(out_file)!r}).eval()  "
                  f"(pooled features out; input NCHW, preprocessed as the weights expect)",
                  highlight=False, markup=False)
    elif fmt == "onnx":
        out.print(f"run it with: onnxruntime.InferenceSession({str(out_file)!r})  (input: a "
                  f"batch of NHWC float32 images of {image_size or 256} px, preprocessed as the "
                  f"weights expect; pooled features out)", highlight=False, markup=False)


@weights_app.command("inspect",
    epilog="Example: radbench weights inspect radimagenet --backbone DenseNet121 --task breast "
           "--data ~/BUSI")
@reports_errors
def weights_inspect(
    source: str = typer.Argument(..., help="imagenet, radimagenet, scratch or file:PATH"),
    backbone: str = typer.Option(..., "--backbone", help="e.g. ResNet50, DenseNet121"),
    task: Optional[str] = typer.Option(None, "--task", help="also run this task's images "
                                       "through the backbone (with --data)"),
    data: Optional[str] = typer.Option(None, "--data", help="the task's dataset folder"),
    images: int = typer.Option(64, "--images", min=1, help="how many of the task's images"),
    image_size: int = typer.Option(128, "--image-size", min=16, help="their size, px"),
    show_all: bool = typer.Option(False, "--all", help="every BatchNorm layer, not only the "
                                  "flagged ones"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """BatchNorm statistics of a backbone's weights (extreme, negative or non-finite values
    flagged), the preprocessing they expect and their hash; with --task, how far the task's
    images sit from the stored statistics at each BatchNorm layer. Exit code 1 when a layer is
    flagged."""
    import statistics

    from radbench.models.inspect_weights import inspect_weights

    pixels = None
    if task:
        from radbench.data.sample import task_images

        pixels = task_images(task, data, image_size, images)
    report = inspect_weights(source, backbone, pixels)
    if as_json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        out.print(f"{source} {backbone}: {report.weights or 'random initialisation'}"
                  + (f" sha256 {report.sha256}" if report.sha256 else ""), highlight=False,
                  markup=False)
        out.print(f"input: {report.input_mode} - {report.preprocessing}", highlight=False,
                  markup=False)
        shown = report.layers if show_all else report.flagged
        for layer in shown:
            line = (f"{layer.name}: {layer.channels} channels, mean {layer.mean_min:.3g}.."
                    f"{layer.mean_max:.3g}, variance {layer.var_min:.3g}..{layer.var_max:.3g} "
                    f"(median {layer.var_median:.3g})")
            if layer.data_shift is not None:
                line += (f"; images: shift {layer.data_shift:.2f} SD, variance ratio "
                         f"{layer.data_var_ratio:.2f}")
            if layer.flags:
                line += "  FLAGGED: " + "; ".join(layer.flags)
            out.print(line, highlight=False, markup=False)
        summary = f"{len(report.layers)} BatchNorm layer(s), {len(report.flagged)} flagged"
        if report.images:
            shifts = [layer.data_shift for layer in report.layers]
            summary += (f"; {report.images} image(s) of task {task}: median shift "
                        f"{statistics.median(shifts):.2f} SD, largest {max(shifts):.2f} SD")
        out.print(summary, highlight=False)
    if report.flagged:
        raise typer.Exit(1)


@app.command(
    epilog="Example: radbench pretrain phantom --backbone MobileNetV3Small --out w.weights.h5")
@reports_errors
def pretrain(
    corpus: str = typer.Argument(..., help="a shipped corpus (configs/corpora) or a YAML path"),
    backbone: str = typer.Option(..., help="e.g. ResNet50, MobileNetV3Small"),
    out_file: Path = typer.Option(..., "--out", help="notop weights file, NAME.weights.h5"),
    data: Optional[list[str]] = typer.Option(None, help="NAME=PATH per corpus part (repeat)"),
    epochs: Optional[int] = typer.Option(None, min=1, help="override the corpus' epochs"),
    work: Optional[Path] = typer.Option(None, help="checkpoints (default NAME.work beside --out)"),
    cache_dir: Optional[Path] = typer.Option(None, help="image cache (default ~/.cache/radbench)"),
) -> None:
    """Train BACKBONE supervised on a labelled corpus and write a notop weights file usable as
    `file:PATH`; a killed run resumes at the next epoch."""
    from radbench.config.corpus import PretrainOptions
    from radbench.config.load import load_corpus, validate
    from radbench.train.pretrain import part_roots
    from radbench.train.pretrain import pretrain as run_pretrain

    config, corpus_file = load_corpus(corpus)
    validate(PretrainOptions, {"backbone": backbone, "epochs": epochs}, "--backbone/--epochs")
    run_pretrain(config, backbone, out_file, part_roots(config, corpus_file, data), work, epochs,
                 cache_dir, log=lambda line: err.print(line, highlight=False, markup=False))


@app.command(epilog="Example: radbench demo --out runs/demo")
@reports_errors
def demo(
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", help="run directory"),
    max_parallel: int = typer.Option(2, min=1, help="cells running at once"),
) -> None:
    """Offline demo: generate a phantom ultrasound task, run the smoke grid, print the report."""
    from radbench.demo import run_demo

    if not run_demo(out_dir, max_parallel, out, err):
        raise typer.Exit(1)


@app.command(epilog="Example: radbench doctor --json")
@reports_errors
def doctor(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    devices: bool = typer.Option(True, "--devices/--no-devices", help="start the backend to "
                                 "list its devices (a few seconds)"),
) -> None:
    """Versions, backend and devices, cache and weights folders, extras installed, and one line
    per problem with its fix."""
    from radbench.explain import doctor as examine, doctor_lines

    report = examine(devices)
    if as_json:
        print(json.dumps(report, indent=1))
        return
    for line in doctor_lines(report):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("list", epilog="Example: radbench list backbones")
@reports_errors
def list_registry(
    what: str = typer.Argument(..., help="backbones, tasks, grids, sources or metrics"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON list"),
) -> None:
    """The backbones, tasks, grids, sources or metrics radbench knows, with what each needs."""
    from radbench.explain import registry_rows

    rows = registry_rows(what)
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        rest = "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                         for k, v in row.items() if k != "name" and v not in ("", None))
        out.print(f"{row['name']}: {rest}", highlight=False, markup=False, soft_wrap=True)


@app.command(epilog="Example: radbench version")
def version() -> None:
    """Print radbench's version."""
    from radbench import __version__

    out.print(__version__)


# what each value stands for in the help (`--grid GRID`, `--layout folders|csv`), by parameter
METAVARS = {
    "grid": "GRID", "data": "PATH", "out_dir": "DIR", "out_file": "FILE", "sources": "A,B,...",
    "max_images": "N", "cache_dir": "DIR", "split": "published|kfold|holdout", "splits": "DIR",
    "executor": "|".join(EXECUTORS), "executor_options": "KEY=VALUE", "gpus": "auto|cpu|0,1,...", "max_parallel": "N", "retries": "N",
    "max_failures": "N", "partition": "NAME", "gpus_per_task": "N",
    "slurm_time": "MINUTES", "parallelism": "N", "watch": "SECONDS", "compare": "A,B",
    "baseline": "SOURCE", "formats": "md,csv,json,tex,html", "threshold": "X", "task": "TASK",
    "layout": "folders|csv", "positive": "CLASS", "group_pattern": "REGEX", "dest": "DIR",
    "mirror": "URL", "timeout": "SECONDS", "backbones": "A,B,...", "backbone": "NAME",
    "epochs": "N", "work": "DIR",
}


def command():
    """The click command of `app`, with readable metavars: an option takes METAVARS' name (or
    its own, upper-cased), an argument its name upper-cased; flags take none."""
    from typer.core import TyperOption

    root = typer.main.get_command(app)

    def visit(command) -> None:
        for param in command.params:
            option = isinstance(param, TyperOption)
            if option and (getattr(param, "is_flag", False) or param.name == "help"):
                continue
            param.metavar = METAVARS.get(param.name, param.name.upper()) if option \
                else param.name.upper()
            if not option:  # the name says it; Typer would add the Python type (<str>)
                param.display_type_rich = lambda ctx: ""
        for sub in getattr(command, "commands", {}).values():
            visit(sub)

    visit(root)
    return root


def main_entry() -> None:
    """The `radbench` console script."""
    command()(prog_name="radbench")


if __name__ == "__main__":
    main_entry()
