"""Entry point of a cell process: `python -m radbench.execute.worker [--serve] CELL_DIR ...`.

Every executor (local slots, Slurm array tasks) runs cells through this one entry point. With
`--serve` the process is a warm worker: after the cells on its command line it reads further cell
directories from standard input, one JSON string per line, and runs each as it comes, until the
input ends (the local executor feeds a slot's worker that way, so that Python, the backend and
their imports start once per slot, not once per model).

For each cell in turn it takes the cell's lock (skips the cell if another process holds it; exit
75 when that was the only cell), skips it if it is already done, appends its output to the
cell's log.txt, records the attempt, beats a heartbeat while it trains, and ends the cell with
result.json written or failure.json holding a one-line reason and a failure kind. Exit 0 when no
cell failed, else 1. A kill leaves the heartbeat behind: the cell then counts as interrupted and
the next run starts it again. Several cells in one process share the imports and, where only
the learning rate or the fold differs, the built and traced model (radbench.train.reuse).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import MutableMapping
from pathlib import Path

from radbench.data.cache import default_cache_root
from radbench.execute.heartbeat import Heartbeat, identity
from radbench.execute.lock import FileLock
from radbench.execute.policy import MACHINE_FAULTS, TRANSIENT, FailureBudget, \
    classify_exception
from radbench.store import CellDir

BUSY_EXIT = 75  # EX_TEMPFAIL: another process is running this cell


def _die_with_parent() -> None:
    """On Linux, end this cell process when the process that started it dies, so a killed run
    never leaves a cell training on behind the next run's back."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _append_output_to(log_file: Path) -> None:
    """From here on, this process's stdout and stderr go to the end of `log_file`."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)


def run_one(directory: Path, reuse=None) -> int:
    """One cell: 0 done (now or before), 1 failed, BUSY_EXIT locked by another process."""
    cell = CellDir(directory)
    if not cell.config_file.is_file():
        print(f"{cell.config_file}: not found", file=sys.stderr)
        return 2
    lock = FileLock(cell.lock_file)
    if not lock.acquire(wait_s=3.0):
        print(f"cell {cell.id} is being run by another process", file=sys.stderr)
        return BUSY_EXIT
    try:
        if cell.result() is not None:  # finished by someone else meanwhile: never train again
            return 0
        _append_output_to(cell.log_file)
        attempt = len(cell.attempts()) + 1
        config = cell.config()
        batch_size = cell.overrides().get(
            "batch_size", config.cell.training.batch_size if config else None)
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        who = identity()
        print(f"=== attempt {attempt} of cell {cell.id}: {started}, host {who['host']}, pid "
              f"{who['pid']}, slurm job {who['slurm_job_id']}, batch size {batch_size} ===")
        cell.clear_outputs()
        cell.append_attempt({"attempt": attempt, "started": started, "batch_size": batch_size,
                             **who})
        heartbeat = Heartbeat(cell, attempt=attempt).start()
        try:
            from radbench.train.cell import run_cell

            result = run_cell(directory, attempt=attempt, reuse=reuse,
                              on_epoch=lambda epoch, epochs: heartbeat.update(epoch=epoch,
                                                                              epochs=epochs))
        except KeyboardInterrupt:  # interrupted, not failed: the next run starts it again
            print("interrupted")
            raise
        except BaseException as exc:  # recorded, the grid goes on
            traceback.print_exc()
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            kind = classify_exception(exc)
            if kind not in MACHINE_FAULTS:  # the cell's own failure: a retry starts afresh
                cell.resume_file.unlink(missing_ok=True)
            cell.record_failure(f"{type(exc).__name__}: {message}"[:500], kind,
                                attempt=attempt, batch_size=batch_size,
                                transient=kind in TRANSIENT, **who)
            heartbeat.stop()
            if reuse is not None:
                reuse.forget()  # never train the next cell on a model left by a failure
            return 1
        heartbeat.stop()
        settle_best_model(cell, result)
        print(f"test AUC {result.test_auc:.4f}")
        return 0
    finally:
        lock.release()


def settle_best_model(cell: CellDir, result) -> None:
    """`--keep-weights best`: under the run's lock for its task and source, this cell's saved
    model becomes the kept best when its validation AUC beats the recorded one (the earlier
    best's model.keras is deleted); else its own is deleted. One model per task and source."""
    if cell.keep()["model"] != "best" or not cell.model_file.is_file():
        return
    from radbench.atomic import atomic_write_json
    from radbench.store import RunDir

    run = RunDir(cell.run_path)
    score = cell.val_auc()
    score = -1.0 if score != score else score
    record_file = run.best_model_record_file(result.task, result.source)
    with FileLock(record_file.with_suffix(".lock")):
        record = run.best_model_record(result.task, result.source)
        previous = None if record is None or record.get("cell_id") == cell.id else \
            run.cell(str(record.get("cell_id")))
        if previous is not None and previous.model_file.is_file() and \
                score <= float(record.get("val_auc", -1.0)):
            cell.model_file.unlink(missing_ok=True)
            return
        atomic_write_json(record_file, {"cell_id": cell.id, "val_auc": score})
        if previous is not None:
            previous.model_file.unlink(missing_ok=True)


_stop_after_this_cell = False


def backend_environment(environ: MutableMapping[str, str]) -> None:
    """Defaults for a cell process, set before the backend is imported: GPU memory grows as
    needed (TensorFlow, JAX), and JAX keeps compiled training steps in a persistent cache under
    the radbench cache, so that another process training the same model (a later fold or seed, a
    Slurm array task) loads the compiled step instead of compiling it again. A user's own
    JAX_COMPILATION_CACHE_DIR wins; RADBENCH_JAX_COMPILATION_CACHE=off turns the cache off."""
    environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if environ.get("RADBENCH_JAX_COMPILATION_CACHE", "on") != "off":
        environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                           str(default_cache_root() / "jax-compilation"))


def _stop_after_current(signum, frame) -> None:
    """SIGUSR1: finish the cell in hand, start no other (the grid's failure budget is spent)."""
    global _stop_after_this_cell
    _stop_after_this_cell = True


def _served(argv: list[str], serve: bool):
    """The cell directories to run: those given, then (serving) one per line of stdin."""
    yield from argv
    if not serve:
        return
    import json

    while not _stop_after_this_cell:
        line = sys.stdin.readline()
        if not line:
            return  # the executor closed our input: no more cells
        if line.strip():
            yield json.loads(line)


def main(argv: list[str]) -> int:
    serve = bool(argv) and argv[0] == "--serve"
    argv = argv[1:] if serve else argv
    if not argv and not serve:
        print("usage: python -m radbench.execute.worker [--serve] CELL_DIR [CELL_DIR ...]",
              file=sys.stderr)
        return 2
    _die_with_parent()
    backend_environment(os.environ)
    reuse = None
    if len(argv) > 1 or serve:
        from radbench.train.reuse import ModelReuse

        reuse = ModelReuse()
    import signal

    signal.signal(signal.SIGUSR1, _stop_after_current)
    budget = FailureBudget(int(os.environ.get("RADBENCH_MAX_CONSECUTIVE_FAILURES", "0") or 0))
    codes = []
    try:
        for directory in _served(argv, serve):
            if _stop_after_this_cell or budget.exhausted:
                break  # the cells left go back to the executor
            codes.append(run_one(Path(directory), reuse))
            if codes[-1] != BUSY_EXIT:
                budget.record(codes[-1] == 0)
    except KeyboardInterrupt:
        return 130
    if len(codes) == 1:
        return codes[0]
    return 1 if any(code not in (0, BUSY_EXIT) for code in codes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
