"""The run directory: the one owner of its on-disk contract. No other module joins its paths.

DIR/                            RunDir
  run.json                      the commands that wrote to DIR (.run.lock guards it)
  cells.csv                     index of the cell folders: cell_id beside its scenario
  data/<task>-<data_id>/        DataDir: manifest.csv, splits.csv, data.json (notes, counts,
                                split id), check.json, skipped.csv
  cells/<cell_id>/              CellDir: cell.json, split.csv, log.txt (every attempt, appended),
                                attempts.jsonl (one line per start), heartbeat.json (while it
                                runs), overrides.json (batch size lowered after out of memory),
                                submitted.json (Slurm), keep.json (what a run asked it to
                                keep: model, TensorBoard events), history.csv,
                                predictions.csv (test), val_predictions.csv (validation),
                                model.weights.h5 and localization.{csv,json} (tasks with masks),
                                model.keras (kept model), tensorboard/ (event files),
                                result.json (done: CellResult) or failure.json (failed:
                                CellFailure), .lock, resume.npz (while it runs: the
                                checkpoint of its last finished epoch)
  slurm/                        submitit's job files and submissions.jsonl

Every file is written atomically (temporary file, fsync, rename), `result.json` last.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from pydantic import ValidationError

from radbench.atomic import append_json_line, atomic_write_csv, atomic_write_json, read_json, \
    read_json_lines
from radbench.cellrecords import DEGENERATE_RANGE, CellFailure, CellResult, CellState, \
    foreign_id, not_whole
from radbench.cellspec import CELL_KEYS, CellConfig

__all__ = ["DEGENERATE_RANGE", "CellDir", "CellFailure", "CellResult", "CellState", "DataDir",
           "KEEP_MODELS", "RunDir", "RunRecordDamaged"]


class RunRecordDamaged(ValueError):
    """run.json exists but is not a run record: the earlier commands it held would be lost."""

    def __init__(self, path: Path):
        super().__init__(f"{path}: damaged (not a JSON run record with an 'invocations' list); "
                         f"it holds the earlier commands of this run, so radbench does not "
                         f"replace it: repair it, or move it away to start the record anew")
        self.path = path


@dataclass(frozen=True)
class CellDir:
    """One cell's directory."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def expected_id(self) -> str | None:
        """The cell id its records must hold: the folder's name inside a run's cells/ folder;
        None for a cell folder copied elsewhere (e.g. for `radbench predict`), whose name is
        the user's."""
        return self.path.name if self.path.parent.name == "cells" else None

    def _own(self, held: str | None) -> bool:
        """Whether a record holding cell id `held` may be this folder's (records too old to
        carry an id, and folders outside a run's cells/, are not checked)."""
        return held is None or self.expected_id is None or held == self.expected_id

    @property
    def run(self) -> "RunDir":
        """The run directory holding this cell."""
        return RunDir(self.path.parent.parent)

    config_file = property(lambda self: self.path / "cell.json")
    split_file = property(lambda self: self.path / "split.csv")
    log_file = property(lambda self: self.path / "log.txt")
    attempts_file = property(lambda self: self.path / "attempts.jsonl")
    heartbeat_file = property(lambda self: self.path / "heartbeat.json")
    overrides_file = property(lambda self: self.path / "overrides.json")
    submitted_file = property(lambda self: self.path / "submitted.json")
    history_file = property(lambda self: self.path / "history.csv")
    predictions_file = property(lambda self: self.path / "predictions.csv")
    val_predictions_file = property(lambda self: self.path / "val_predictions.csv")
    keep_file = property(lambda self: self.path / "keep.json")
    model_file = property(lambda self: self.path / "model.keras")
    tensorboard_dir = property(lambda self: self.path / "tensorboard")
    weights_file = property(lambda self: self.path / "model.weights.h5")
    localization_file = property(lambda self: self.path / "localization.csv")
    localization_summary_file = property(lambda self: self.path / "localization.json")
    result_file = property(lambda self: self.path / "result.json")
    failure_file = property(lambda self: self.path / "failure.json")
    lock_file = property(lambda self: self.path / ".lock")
    resume_file = property(lambda self: self.path / "resume.npz")  # radbench.train.resume

    # what an attempt writes; removed before the next attempt (never result.json)
    _OUTPUTS = ("failure.json", "history.csv", "predictions.csv", "val_predictions.csv",
                "model.weights.h5", "model.keras", "localization.csv")

    def config(self) -> CellConfig | None:
        """cell.json as its typed record (CellConfig: cell, grid, task, data); None when it is
        absent or damaged (`config_damage` says how)."""
        data = read_json(self.config_file)
        if data is None:
            return None
        try:
            config = CellConfig.model_validate(data)
        except (ValidationError, TypeError, ValueError, KeyError):
            return None
        return config if self._own(config.cell_id) else None

    def config_damage(self) -> str | None:
        """What is wrong with a cell.json that is there: not a JSON object, a key the report
        and the executors read is missing, or a value of the wrong kind. None when it is whole
        (or absent)."""
        if not self.config_file.exists():
            return None
        data = read_json(self.config_file)
        if data is None:
            return "cell.json is not valid JSON (cut short?)"
        cell = data.get("cell")
        if not isinstance(cell, dict):
            return "cell.json has no 'cell' object"
        missing = [k for k in CELL_KEYS if k not in cell]
        if missing:
            return f"cell.json lacks the key 'cell.{missing[0]}'"
        try:
            CellConfig.model_validate(data)
        except ValidationError as exc:
            return not_whole("cell.json", exc)
        except (TypeError, ValueError, KeyError) as exc:
            return f"cell.json is not a whole record ({exc})"
        return foreign_id("cell.json", data, self.expected_id)

    def damage(self) -> str | None:
        """The first damaged file of this cell (cell.json, result.json, failure.json: there but
        unreadable or incomplete), said in words; None when every file there is whole."""
        problem = self.config_damage()
        if problem:
            return problem
        for file, model in ((self.result_file, CellResult), (self.failure_file, CellFailure)):
            if not file.exists():
                continue
            problem = self._record_damage(file, model)
            if problem:
                return problem
        return None

    def _record_damage(self, file: Path, model: type) -> str | None:
        """What is wrong with result.json or failure.json (there): not JSON, not whole, a value
        outside its domain, or another cell's record. None: it can be trusted."""
        data = read_json(file)
        if data is None:
            return f"{file.name} is not valid JSON (cut short?)"
        try:
            model.model_validate(data)
        except ValidationError as exc:
            return not_whole(file.name, exc)
        return foreign_id(file.name, data, self.expected_id)

    def write_config(self, config: CellConfig) -> None:
        atomic_write_json(self.config_file, config.to_json())

    def data(self) -> "DataDir":
        """The run's data folder of this cell's task and dataset."""
        config = self.config()
        if config is None:
            raise FileNotFoundError(f"{self.config_file}: missing or damaged")
        return self.run.data_dir(config.task.name, config.data.data_id)

    def split(self) -> pd.DataFrame:
        """split.csv: row (index into the image cache), case_id, part, y."""
        return pd.read_csv(self.split_file, keep_default_na=False, dtype={"case_id": str})

    def write_split(self, frame: pd.DataFrame) -> None:
        atomic_write_csv(self.split_file, frame)

    def predictions(self) -> pd.DataFrame:
        """predictions.csv: case_id, fold, y_true, y_score of each test case."""
        return pd.read_csv(self.predictions_file, dtype={"case_id": str})

    def write_predictions(self, frame: pd.DataFrame) -> None:
        atomic_write_csv(self.predictions_file, frame)

    def val_predictions(self) -> pd.DataFrame | None:
        """val_predictions.csv (case_id, fold, y_true, y_score of each validation case, scored
        by the kept epoch's model), or None for cells stored without it."""
        if not self.val_predictions_file.is_file():
            return None
        return pd.read_csv(self.val_predictions_file, dtype={"case_id": str})

    def val_auc(self) -> float:
        """The validation AUC of the cell's kept epoch, from val_predictions.csv (NaN without):
        what picks the best cell of a task and source (kept models, `radbench predict`)."""
        from radbench.metrics import auc_of, score_matrix

        val = self.val_predictions()
        if val is None or not len(val):
            return float("nan")
        matrix = score_matrix(val)
        if matrix is None:
            matrix = pd.concat([1 - val["y_score"], val["y_score"]], axis=1).to_numpy()
        return float(auc_of(val["y_true"], matrix))

    def write_val_predictions(self, frame: pd.DataFrame) -> None:
        atomic_write_csv(self.val_predictions_file, frame)

    def keep(self) -> dict[str, Any]:
        """keep.json: what the latest run asked this cell to keep beyond its results:
        {"model": "all" | "best" | "none", "tensorboard": bool} ("best": the model, while it is
        the best of its task and source by validation AUC); nothing when absent (and true /
        false, as older runs wrote it: all / none)."""
        stored = read_json(self.keep_file) or {}
        model = stored.get("model", "none")
        model = {True: "all", False: "none"}.get(model, model) if isinstance(model, bool) \
            else model
        return {"model": model if model in KEEP_MODELS else "none",
                "tensorboard": bool(stored.get("tensorboard"))}

    def write_keep(self, model: str, tensorboard: bool) -> None:
        atomic_write_json(self.keep_file, {"model": model, "tensorboard": tensorboard})

    @property
    def run_path(self) -> Path:
        """The run directory holding this cell (RUN/cells/<id>)."""
        return self.path.parent.parent

    def write_history(self, frame: pd.DataFrame) -> None:
        atomic_write_csv(self.history_file, frame)

    def localization_summary(self) -> dict[str, Any] | None:
        return read_json(self.localization_summary_file)

    def write_localization(self, frame: pd.DataFrame, summary: dict[str, Any]) -> None:
        atomic_write_csv(self.localization_file, frame)
        atomic_write_json(self.localization_summary_file, summary)

    def heartbeat(self) -> dict[str, Any] | None:
        return read_json(self.heartbeat_file)

    def write_heartbeat(self, beat: dict[str, Any]) -> None:
        atomic_write_json(self.heartbeat_file, beat)

    def overrides(self) -> dict[str, Any]:
        return read_json(self.overrides_file) or {}

    def write_overrides(self, overrides: dict[str, Any]) -> None:
        atomic_write_json(self.overrides_file, overrides)

    def submitted(self) -> dict[str, Any] | None:
        return read_json(self.submitted_file)

    def write_submitted(self, record: dict[str, Any]) -> None:
        atomic_write_json(self.submitted_file, record)

    def attempts(self) -> list[dict[str, Any]]:
        """One record per attempt that started (a line cut by a kill is ignored)."""
        return read_json_lines(self.attempts_file)

    def append_attempt(self, record: dict[str, Any]) -> None:
        """Append one line (a single write, synced) to attempts.jsonl."""
        append_json_line(self.attempts_file, record)

    def result(self) -> CellResult | None:
        """result.json, or None when it is absent or not a result (a cell without one runs)."""
        data = read_json(self.result_file)
        try:
            result = CellResult.model_validate(data) if data is not None else None
        except ValidationError:
            return None  # damaged: `damage()` names it
        return result if result is not None and self._own(result.cell_id) else None

    def write_result(self, result: CellResult) -> None:
        atomic_write_json(self.result_file, result.model_dump(mode="json"))

    def failure(self) -> CellFailure | None:
        data = read_json(self.failure_file)
        if data is None or "reason" not in data or "kind" not in data:
            return None
        try:
            failure = CellFailure.model_validate(data)
        except ValidationError:
            return None  # damaged: `damage()` names it
        return failure if self._own(failure.cell_id) else None

    def record_failure(self, reason: str, kind: str, **extra: Any) -> None:
        failure = CellFailure(reason=reason, kind=kind, cell_id=self.id, log=str(self.log_file),
                              **extra)
        atomic_write_json(self.failure_file, failure.model_dump(mode="json"))

    def stored_state(self) -> CellState:
        """DONE, FAILED or PENDING, from result.json and failure.json alone."""
        if self.result() is not None:
            return CellState.DONE
        if self.failure() is not None:
            return CellState.FAILED
        return CellState.PENDING

    def clear_outputs(self) -> None:
        """Remove what an earlier, unfinished or failed attempt left (never result.json),
        including the temporary files of a write that a kill cut short."""
        for name in self._OUTPUTS:
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.tensorboard_dir, ignore_errors=True)
        shutil.rmtree(self.path / "external", ignore_errors=True)  # radbench.sites
        for leftover in self.path.glob(".*.*"):
            if leftover.name != self.lock_file.name and leftover.is_file():
                leftover.unlink(missing_ok=True)


@dataclass(frozen=True)
class DataDir:
    """The run's copy of one dataset as a task read it: manifest, splits, notes."""

    path: Path

    manifest_file = property(lambda self: self.path / "manifest.csv")
    splits_file = property(lambda self: self.path / "splits.csv")
    info_file = property(lambda self: self.path / "data.json")
    check_file = property(lambda self: self.path / "check.json")
    skipped_file = property(lambda self: self.path / "skipped.csv")

    def exists(self) -> bool:
        return self.info_file.is_file()

    def info(self) -> dict[str, Any] | None:
        """data.json: task, root, data and split ids, counts, notes."""
        return read_json(self.info_file)

    def manifest(self) -> pd.DataFrame:
        return pd.read_csv(self.manifest_file, keep_default_na=False, dtype=str)

    def write(self, manifest: pd.DataFrame, splits: pd.DataFrame, info: dict[str, Any],
              check: dict[str, Any] | None = None,
              skipped: pd.DataFrame | None = None) -> None:
        """Write every file; data.json last, so that its presence means the folder is whole."""
        atomic_write_csv(self.manifest_file, manifest)
        atomic_write_csv(self.splits_file, splits)
        if check is not None:
            atomic_write_json(self.check_file, check)
        if skipped is not None and len(skipped):
            atomic_write_csv(self.skipped_file, skipped)
        atomic_write_json(self.info_file, info)


KEEP_MODELS = ("all", "best", "none")  # `radbench run --keep-weights`


@dataclass(frozen=True)
class RunDir:
    """A run directory: what `radbench run --out DIR` writes and `status`/`report` read."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    run_file = property(lambda self: self.path / "run.json")
    run_lock_file = property(lambda self: self.path / ".run.lock")
    cells_index_file = property(lambda self: self.path / "cells.csv")
    cells_root = property(lambda self: self.path / "cells")
    data_root = property(lambda self: self.path / "data")
    slurm_dir = property(lambda self: self.path / "slurm")
    submissions_file = property(lambda self: self.path / "slurm" / "submissions.jsonl")

    def cell(self, cell_id: str) -> CellDir:
        return CellDir(self.cells_root / cell_id)

    def best_model_record_file(self, task: str, source: str) -> Path:
        """kept/<task>-<hash of source>.json: which cell's model is kept as the best of its
        task and source by validation AUC (`--keep-weights best`)."""
        from radbench.ids import stable_hash

        return self.path / "kept" / f"{task}-{stable_hash(source)}.json"

    def best_model_record(self, task: str, source: str) -> dict[str, Any] | None:
        """{"cell_id", "val_auc"} of the kept best model of `task` and `source`, if any."""
        return read_json(self.best_model_record_file(task, source))

    def damaged(self) -> list[tuple[CellDir, str]]:
        """Every cell folder with a damaged file (`CellDir.damage`), in id order."""
        if not self.cells_root.is_dir():
            return []
        found = []
        for path in sorted(self.cells_root.iterdir()):
            problem = CellDir(path).damage() if path.is_dir() else None
            if problem:
                found.append((CellDir(path), problem))
        return found

    def cells(self) -> Iterator[CellDir]:
        """Every cell directory that has a readable cell.json, in id order."""
        if not self.cells_root.is_dir():
            return
        for path in sorted(self.cells_root.iterdir()):
            cell = CellDir(path)
            if path.is_dir() and cell.config() is not None:
                yield cell

    def write_cells_index(self) -> Path:
        """cells.csv: every cell folder's id beside its scenario (task, source, backbone,
        freeze, lr, seed, fold) and any training settings it sets, so a person can find a
        cell's folder by what it ran."""
        rows = []
        for cell in self.cells():
            spec = cell.config().cell
            rows.append({"cell_id": cell.id, **{k: getattr(spec, k) for k in CELL_KEYS},
                         "folder": f"cells/{cell.id}"})
        frame = pd.DataFrame(rows, columns=["cell_id", *CELL_KEYS, "folder"])
        atomic_write_csv(self.cells_index_file, frame)
        return self.cells_index_file

    def data_dir(self, task: str, data_id: str) -> DataDir:
        return DataDir(self.data_root / f"{task}-{data_id}")

    def data_dirs(self) -> list[DataDir]:
        if not self.data_root.is_dir():
            return []
        return [DataDir(p) for p in sorted(self.data_root.iterdir()) if DataDir(p).exists()]

    def invocations(self) -> list[dict[str, Any]]:
        """The `radbench run` commands recorded in run.json (oldest first)."""
        return (read_json(self.run_file) or {}).get("invocations", [])

    def run_record(self) -> dict[str, Any] | None:
        """run.json's record, None when there is none yet. A run.json that exists but is not
        a run record (a JSON object with an 'invocations' list) raises RunRecordDamaged."""
        record = read_json(self.run_file)
        if record is None and not self.run_file.exists():
            return None
        if record is None or not isinstance(record.get("invocations"), list):
            raise RunRecordDamaged(self.run_file)
        return record

    def append_invocation(self, invocation: dict[str, Any]) -> None:
        """Add one command to run.json (the caller holds run_lock_file). A damaged run.json is
        never replaced: RunRecordDamaged names it."""
        record = self.run_record() or {"invocations": []}
        record["invocations"].append(invocation)
        atomic_write_json(self.run_file, record)

    def submissions(self) -> list[dict[str, Any]]:
        return read_json_lines(self.submissions_file)

    def append_submission(self, record: dict[str, Any]) -> None:
        append_json_line(self.submissions_file, record)
