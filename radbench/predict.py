"""`radbench predict`: score new images with a kept model (`radbench run` keeps the best cell's
of each task and source by default; `--keep-weights all` every cell's).

Given a cell directory, its model.keras scores every image under `--data` with the cell's own
decoding (size, interpolation, CT windows), exactly as its image cache was built, so a cell's own
test images get its stored test scores back. Given a run directory, the kept cell with the best
validation AUC of each task and source scores them (chosen on validation, never on test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from radbench.errors import ConfigError, DataError
from radbench.store import CellDir, CellState, RunDir
from radbench.atomic import atomic_write_csv

if TYPE_CHECKING:
    from radbench.data.manifest import Manifest

BATCH = 32


@dataclass(frozen=True)
class KeptCell:
    """A finished cell with a kept model, and what predicting with it needs."""

    directory: CellDir
    task: str
    source: str
    size: int
    interpolation: str
    windows: list[tuple[float, float]]
    threshold: float  # the validation Youden threshold (NaN when it has none, or multi-class)
    names: list[str]  # the task's classes; column i of the model's output is names[i]
    positive: str | None  # None: a multi-class task
    val_auc: float


def kept_cell(directory: CellDir) -> KeptCell:
    """The cell in `directory` as a KeptCell; a ConfigError says what is missing."""
    from radbench.metrics import youden_threshold

    config = directory.config()
    if config is None:
        problem = directory.config_damage() or "not found"
        raise ConfigError(f"{directory.config_file}: {problem}; expected a cell directory "
                          f"(RUN/cells/<id>) or a run directory")
    if directory.stored_state() != CellState.DONE:
        raise ConfigError(f"{directory.path}: the cell is not finished (no result.json)")
    if config.cell.freeze in ("probe", "knn"):
        raise ConfigError(f"{directory.path}: a {config.cell.freeze} cell fits "
                          f"scikit-learn on frozen features and keeps no Keras model; predict "
                          f"with a fine-tuned cell")
    if not directory.model_file.is_file():
        raise ConfigError(f"{directory.path}: no kept model ({directory.model_file.name}): "
                          f"`radbench run` keeps only the best cell's of each task and source "
                          f"by validation AUC; give the run directory to predict with that one, "
                          f"or run the grid with `--keep-weights all` in a new run directory")
    from radbench.data.prepare import windows_of

    spec, task = config.cell, config.task
    val = directory.val_predictions()
    threshold, val_auc = float("nan"), directory.val_auc()
    if val is not None and len(val) and "y_score" in val:
        threshold = youden_threshold(val["y_true"], val["y_score"])
    return KeptCell(directory, task.name, spec.source, spec.training.image_size,
                    spec.training.interpolation, windows_of(task), threshold,
                    list(task.classes.names), task.classes.positive, val_auc)


def kept_cells(target: Path) -> list[KeptCell]:
    """A cell directory: that cell. A run directory: per task and source, the kept cell with
    the highest validation AUC."""
    target = Path(target)
    if not target.is_dir():
        raise ConfigError(f"{target}: not found; expected a cell directory or a run directory")
    if CellDir(target).config_file.is_file():
        return [kept_cell(CellDir(target))]
    run = RunDir(target)
    if not run.cells_root.is_dir():
        raise ConfigError(f"{target}: neither a cell directory (cell.json) nor a run directory "
                          f"(cells/)")
    candidates = [kept_cell(c) for c in run.cells()
                  if c.model_file.is_file() and c.stored_state() == CellState.DONE
                  and c.config().cell.freeze not in ("probe", "knn")]
    if not candidates:
        raise ConfigError(f"{target}: no finished cell kept its model (run with "
                          f"`--keep-weights none`, or only probe cells); run the grid with "
                          f"`radbench run ... --keep-weights best` (the default) or `all`")
    best: dict[tuple[str, str], KeptCell] = {}
    for cell in sorted(candidates, key=lambda c: c.directory.id):
        key = (cell.task, cell.source)
        score = -1.0 if np.isnan(cell.val_auc) else cell.val_auc
        if key not in best or score > (-1.0 if np.isnan(best[key].val_auc) else best[key].val_auc):
            best[key] = cell
    return [best[k] for k in sorted(best)]


def image_paths(data: Path) -> list[Path]:
    """`data` itself when it is an image file, else every image file below it (sorted)."""
    from radbench.data.images import DICOM_SUFFIXES, IMAGE_SUFFIXES
    from radbench.data.records import image_files

    data = Path(data).expanduser()
    suffixes = IMAGE_SUFFIXES | DICOM_SUFFIXES
    if data.is_file():
        if data.suffix.lower() not in suffixes:
            raise DataError(f"{data}: not an image file (expected one of "
                            f"{', '.join(sorted(suffixes))})")
        return [data]
    if not data.is_dir():
        raise DataError(f"--data {data}: not found")
    found = [p for p in image_files(data, [], suffixes) if "mask" not in p.stem.lower()]
    if not found:
        raise DataError(f"--data {data}: no image files found below it (expected "
                        f"{', '.join(sorted(suffixes))}; files named *mask* are left out)")
    return found


def _decoded(paths: list[Path], cell: KeptCell) -> np.ndarray:
    from radbench.data.decode import load_rgb

    images = np.empty((len(paths), cell.size, cell.size, 3), dtype=np.uint8)
    for index, path in enumerate(paths):
        try:
            images[index] = load_rgb(path, cell.size, cell.interpolation, cell.windows)
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - PIL, pydicom, numpy raise many kinds
            raise DataError(f"{path}: cannot be decoded as an image "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
                            ) from None
    return images


def load_kept_model(cell: KeptCell):
    """The cell's model.keras, opened in Keras' safe mode (radbench's own layers registered)."""
    from radbench.models.kept import load_model_file

    return load_model_file(cell.directory.model_file)


def predict(target: Path, data: Path) -> pd.DataFrame:
    """Scores of every image under `data` by the kept model(s) of `target`: one row per image
    and cell, with the positive-class probability and the call at the cell's validation
    threshold."""
    cells = kept_cells(target)
    paths = image_paths(data)
    root = Path(data).expanduser()
    frames = []
    for cell in cells:
        model = load_kept_model(cell)
        probabilities = np.concatenate([  # decoded a batch at a time: a folder fits in memory
            np.asarray(model.predict(_decoded(paths[i:i + BATCH], cell), verbose=0))
            for i in range(0, len(paths), BATCH)]).astype(float)
        frame = pd.DataFrame({
            "image": [str(p.relative_to(root)) if root.is_dir() else p.name for p in paths],
            "task": cell.task, "source": cell.source, "cell_id": cell.directory.id})
        if cell.positive is not None:  # two classes: the positive one's probability
            scores = probabilities[:, 1]
            negative = next(n for n in cell.names if n != cell.positive)
            frame["y_score"] = scores
            frame["threshold"] = cell.threshold
            frame["predicted"] = np.where(scores >= cell.threshold, cell.positive, negative) \
                if not np.isnan(cell.threshold) else ""
        else:  # more: every class's probability, and the most probable class
            for index, name in enumerate(cell.names):
                frame[f"score_{name}"] = probabilities[:, index]
            frame["predicted"] = [cell.names[i] for i in probabilities.argmax(axis=1)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_predictions(frame: pd.DataFrame, out: Path) -> Path:
    """The predictions as CSV at `out` (written whole or not at all)."""
    atomic_write_csv(Path(out), frame)
    return Path(out)


def score_sites(out: Path, task_name: str, sites: dict[str, "Manifest"]) -> dict[str, int]:
    """Score every finished cell of `task_name` in run directory `out` that kept its model on
    each external site (a manifest read by radbench.data.external) it has not scored yet;
    stores the site (RUN/external/<task>/<site>/) and each cell's scores on it. A site whose
    images changed since it was stored is scored again. Returns site -> cells scored now."""
    from radbench.sites import site_dir, site_predictions_file

    run, scored = RunDir(out), {}
    cells = [c for c in run.cells() if c.config().cell.task == task_name
             and c.stored_state() == CellState.DONE and c.model_file.is_file()
             and c.config().cell.freeze not in ("probe", "knn")]
    for name, manifest in sites.items():
        folder = site_dir(run, task_name, name)
        stored = folder.info() or {}
        if stored.get("data_id") != manifest.data_id:
            for cell in run.cells():
                site_predictions_file(cell, name).unlink(missing_ok=True)
            folder.write(manifest.frame, {"task": task_name, "site": name,
                                          "root": str(Path(manifest.root).resolve()),
                                          "data_id": manifest.data_id,
                                          "counts": manifest.counts(), "notes": manifest.notes})
        scored[name] = 0
        for directory in cells:
            target = site_predictions_file(directory, name)
            if target.is_file():
                continue
            cell = kept_cell(directory)
            locators = [manifest.absolute(p) for p in manifest.frame["path"]]
            model = load_kept_model(cell)
            probabilities = np.concatenate([
                np.asarray(model.predict(_decoded(locators[i:i + BATCH], cell), verbose=0))
                for i in range(0, len(locators), BATCH)]).astype(float)
            frame = pd.DataFrame({"case_id": manifest.frame["case_id"].to_numpy(),
                                  "y_true": manifest.frame["y"].to_numpy()})
            if cell.positive is not None:
                frame["y_score"] = probabilities[:, 1]
            else:
                for index, label in enumerate(cell.names):
                    frame[f"score_{label}"] = probabilities[:, index]
            target.parent.mkdir(exist_ok=True)
            atomic_write_csv(target, frame)
            scored[name] += 1
    return scored
