"""Fit one cell and store its history, test predictions and result, from its directory alone."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from radbench.cellrecords import auc_or_none, finite_or_none
from radbench.cellspec import Cell
from radbench.config.schema import PROBES
from radbench.store import CellDir, CellResult
from radbench.metrics import scores_of
from radbench.train.reuse import ModelReuse


def epoch_timer():
    """A callback adding each epoch's wall time, first batch to end of epoch, to the logs as
    `epoch_seconds` (and so to the history). The benchmark scripts time epochs with it too."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Adds each epoch's wall time to the logs (and so to the history)."""

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self._start

    return EpochTimer()


def _epoch_reporter(on_epoch: Callable[[int, int], None], epochs: int):
    import keras

    class EpochReporter(keras.callbacks.Callback):
        """Tells `on_epoch(epoch, epochs)` (1-based) when each epoch begins."""

        def on_epoch_begin(self, epoch, logs=None):
            on_epoch(epoch + 1, epochs)

    return EpochReporter()


def step_lr(lr: float, epochs: int, epoch: int) -> float:
    """MedMNIST v2's schedule: `lr` x 0.1 from epoch 0.5 * `epochs` and again from 0.75 *
    `epochs` (0-based; PyTorch MultiStepLR, milestones rounded up to whole epochs)."""
    milestones = (math.ceil(0.5 * epochs), math.ceil(0.75 * epochs))
    return lr * 0.1 ** sum(epoch >= m for m in milestones)


def _lr_scheduler(lr: float, epochs: int):
    import keras

    return keras.callbacks.LearningRateScheduler(lambda epoch, _: step_lr(lr, epochs, epoch))


def _val_auc(batches, y: np.ndarray):
    import keras

    from radbench.metrics import auc_of

    class ValAUC(keras.callbacks.Callback):
        """Adds the validation AUC (positive-class column; macro one-vs-rest for more classes;
        inference mode) to each epoch's logs as `val_auc`, before the callback that keeps the
        best epoch reads them."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["val_auc"] = auc_of(y, np.asarray(self.model.predict(batches, verbose=0)))

    return ValAUC()


def _as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Stored scores back as softmax columns: (N,) positive-class scores as (N, 2)."""
    scores = np.asarray(scores, dtype=float)
    return np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores


def fit_and_predict(cell: Cell, images: np.ndarray, split: pd.DataFrame, weights: str | None,
                    verbose: int = 2,
                    on_epoch: Callable[[int, int], None] | None = None,
                    reuse: ModelReuse | None = None,
                    tensorboard: Path | None = None, classes: int = 2,
                    checkpoint: Path | None = None) -> dict[str, Any]:
    """Train `cell` on the train rows of `split`, keep the weights of the best epoch (lowest
    val loss, or highest val AUC under `select_on: val_auc`), predict validation and test.

    `split` has columns row (index into `images`), part, y. Returns history (DataFrame), the
    validation and test scores (positive-class softmax column), best epoch, best val loss and
    timings. `tensorboard`: a folder for TensorBoard event files of the training.
    `checkpoint`: the cell's per-epoch resume file (radbench.train.resume): loaded when there,
    rewritten after every epoch.
    """
    import keras

    from radbench.train.batches import CachedBatches
    from radbench.train.reuse import build_compiled

    started = time.perf_counter()
    if reuse is not None:
        model, reused = reuse.model_for(cell, weights, classes)
    else:
        model, reused = build_compiled(cell, weights, classes), False
    built = time.perf_counter()

    def part(name: str) -> pd.DataFrame:
        return split[split["part"] == name]

    train, val, test = part("train"), part("val"), part("test")
    batch = cell.training.batch_size
    train_batches = CachedBatches(images, train["row"], train["y"], batch, shuffle=True,
                                  seed=cell.seed, classes=classes)
    val_batches = CachedBatches(images, val["row"], val["y"], batch, classes=classes)
    select_on = cell.training.select_on
    keep_best = keras.callbacks.EarlyStopping(monitor=select_on,
                                              mode="max" if select_on == "val_auc" else "min",
                                              patience=cell.training.epochs + 1,
                                              restore_best_weights=True)
    callbacks = [keep_best, epoch_timer()]
    if select_on == "val_auc":
        callbacks.insert(0, _val_auc(CachedBatches(images, val["row"], None, batch),
                                     val["y"].to_numpy()))
    if cell.training.lr_schedule == "step":
        callbacks.insert(0, _lr_scheduler(cell.lr, cell.training.epochs))
    if cell.training.batchnorm_calibration:  # before keep_best sees the validation loss
        from radbench.train.batchnorm import calibration_callback

        base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
        callbacks.insert(0, calibration_callback(
            model, base, CachedBatches(images, train["row"], None, batch)))
    if on_epoch is not None:
        callbacks.append(_epoch_reporter(on_epoch, cell.training.epochs))
    if tensorboard is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard), write_graph=False,
                                                     update_freq="epoch"))
    resume = None
    if checkpoint is not None:  # last: it sees every other callback's logs and state
        from radbench.train.resume import EpochCheckpoint, fingerprint

        resume = EpochCheckpoint(checkpoint, fingerprint(cell, classes, len(train)))
        resume.restore(model, train_batches)
        if resume.note:
            print(resume.note, flush=True)
        callbacks.append(resume.callback(keep_best))
    # shuffle=False: CachedBatches draws each epoch's order from the cell's seed; Keras would
    # also shuffle the batch order with Python's global `random`, which a model shared between
    # cells (radbench.train.reuse) could not reproduce
    history = model.fit(train_batches, validation_data=val_batches, epochs=cell.training.epochs,
                        callbacks=callbacks, verbose=verbose, shuffle=False,
                        initial_epoch=resume.start_epoch if resume else 0)
    fitted = time.perf_counter()
    probabilities = model.predict(CachedBatches(images, test["row"], None, batch), verbose=0)
    predicted = time.perf_counter()
    val_probabilities = model.predict(CachedBatches(images, val["row"], None, batch), verbose=0) \
        if len(val) else np.zeros((0, classes))
    frame = pd.DataFrame(resume.rows if resume is not None else history.history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    epoch_seconds = frame["epoch_seconds"].tolist()
    best = frame.iloc[int(keep_best.best_epoch)]
    return {
        "history": frame,
        # two classes: the positive column; more: every column
        "test_scores": scores_of(np.asarray(probabilities)),
        "val_scores": scores_of(np.asarray(val_probabilities)),
        "best_epoch": int(keep_best.best_epoch) + 1,
        "best_val_loss": float(best["val_loss"]),
        "best_val_auc": float(best["val_auc"]) if "val_auc" in frame else None,
        "resumed_from_epoch": resume.start_epoch if resume is not None and resume.start_epoch
        else None,
        "timings": {
            "build_s": built - started,
            "fit_s": fitted - built,
            "first_epoch_s": epoch_seconds[0],
            "later_epoch_s": float(np.mean(epoch_seconds[1:])) if len(epoch_seconds) > 1 else None,
            "predict_s": predicted - fitted,
            "train_images_per_s": len(train) * len(frame) / max(fitted - built, 1e-9),
            "reused_model": reused,
        },
        "n": {"train": len(train), "val": len(val), "test": len(test)},
        "model": model,
    }


def beats_kept(cell_dir: CellDir, task: str, source: str, val_auc: float | None) -> bool:
    """Whether a cell's validation AUC beats the model kept so far as the best of its task and
    source (`--keep-weights best`); read without a lock, so it only spares saving a model that
    cannot win: the worker decides under the lock (radbench.execute.worker)."""
    from radbench.store import RunDir

    record = RunDir(cell_dir.run_path).best_model_record(task, source)
    score = -1.0 if val_auc is None or math.isnan(val_auc) else float(val_auc)
    return record is None or record.get("cell_id") == cell_dir.id or \
        score > float(record.get("val_auc", -1.0))


def save_model(model, path: Path) -> None:
    """The trained model as a `.keras` file: architecture and the kept epoch's weights, without
    the optimizer's state (an uncompiled copy is saved; a third of the size under Adam). Written
    beside and renamed, so a kill never leaves half a file under its name."""
    import keras

    from radbench.atomic import written_beside

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    with written_beside(Path(path)) as partial:
        copy.save(partial)


def log_test_metrics(folder: Path, metrics: dict[str, float | None], step: int) -> None:
    """The cell's test AUC and metrics as TensorBoard scalars in `folder` (beside the train and
    validation curves Keras' callback writes), at the last epoch's step. TensorBoard's own
    writer: numpy only, no backend."""
    from tensorboard.summary import Writer

    writer = Writer(str(folder))
    for name, value in metrics.items():
        if value is not None and math.isfinite(value):
            writer.add_scalar(name, float(value), step)
    writer.close()


def run_cell(directory: Path, verbose: int = 2, attempt: int | None = None,
             on_epoch: Callable[[int, int], None] | None = None,
             reuse: ModelReuse | None = None) -> CellResult:
    """Run the cell stored in `directory` and write its outputs; returns what result.json holds.

    A batch size in the cell's overrides.json (lowered after running out of memory) replaces
    the configured one for training; result.json records both."""
    from radbench.data.cache import ImageCache
    from radbench.metrics import SCORE_PREFIX, auc_of, cell_metrics
    from radbench.models.sources import resolve_source
    from radbench.provenance import device, versions

    started = time.perf_counter()
    cell_dir = CellDir(Path(directory))
    config = cell_dir.config()
    if config is None:
        raise FileNotFoundError(f"{cell_dir.config_file}: missing or damaged "
                                f"({cell_dir.config_damage() or 'absent'})")
    cell = config.cell
    overrides = cell_dir.overrides()
    configured = cell
    if overrides.get("batch_size"):
        cell = replace(cell, training=cell.training.model_copy(
            update={"batch_size": int(overrides["batch_size"])}))
    task = config.task
    split = cell_dir.split()
    source = resolve_source(cell.source, cell.backbone)
    cell_dir.clear_outputs()
    cache = ImageCache(Path(config.data.cache_dir))
    damage = cache.damage()
    if damage:
        raise ValueError(f"image cache {cache.directory} is damaged ({damage}); run "
                         f"`radbench run` again to rebuild it")
    cached_ids = cache.case_ids
    if [cached_ids[row] for row in split["row"]] != split["case_id"].tolist():
        raise ValueError(f"image cache {cache.directory} does not hold this cell's images in the "
                         f"order of split.csv; run `radbench run` again to rebuild it")
    images = cache.images()
    keep = cell_dir.keep()
    if cell.freeze in PROBES:  # frozen features, then scikit-learn: no network is trained
        from radbench.train.probe import run_probe

        outcome = run_probe(cell, images, split, cache.directory, source.weights, source.sha256,
                            classes=len(task.classes.names))
    else:
        outcome = fit_and_predict(
            cell, images, split, source.weights, verbose=verbose, on_epoch=on_epoch,
            reuse=reuse, tensorboard=cell_dir.tensorboard_dir if keep["tensorboard"] else None,
            classes=len(task.classes.names), checkpoint=cell_dir.resume_file)
    cell_dir.write_history(outcome["history"])

    def scored(part: str, scores: np.ndarray) -> pd.DataFrame:
        """Binary: y_score, the positive class's probability; more classes: score_<name>
        per class (y_true is the class's position in classes.names)."""
        rows = split[split["part"] == part]
        frame = pd.DataFrame({"case_id": rows["case_id"].to_numpy(), "fold": cell.fold,
                              "y_true": rows["y"].to_numpy()})
        if scores.ndim == 1:
            return frame.assign(y_score=scores)
        for index, name in enumerate(task.classes.names):
            frame[f"{SCORE_PREFIX}{name}"] = scores[:, index]
        return frame

    predictions = scored("test", outcome["test_scores"])
    val_predictions = scored("val", outcome["val_scores"])
    test_auc = auc_of(predictions["y_true"], _as_probabilities(outcome["test_scores"]))
    if math.isnan(test_auc):
        raise ValueError(f"the test part of fold {cell.fold} lacks a class "
                         f"({sorted(set(predictions['y_true']))} present): its AUC is undefined")
    cell_dir.write_predictions(predictions)
    cell_dir.write_val_predictions(val_predictions)
    if outcome["model"] is not None and (keep["model"] == "all" or (
            keep["model"] == "best" and beats_kept(cell_dir, task.name, cell.source,
                                                   cell_dir.val_auc()))):
        save_model(outcome["model"], cell_dir.model_file)  # "best": settled by the worker
    localization = None
    from radbench.models.backbones import get_backbone

    if task.has_masks and get_backbone(cell.backbone).gradcam and outcome["model"] is not None \
            and not task.classes.multiclass \
            and cell_dir.data().manifest_file.is_file():
        from radbench.train.localization import localize

        from radbench.atomic import written_beside

        with written_beside(cell_dir.weights_file) as partial:
            outcome["model"].save_weights(partial)
        localization = localize(cell_dir, outcome["model"], images, split)
    result = CellResult(**{
        "cell_id": cell_dir.id,
        **configured.scenario(),
        "fold": cell.fold,
        "batch_size_used": cell.training.batch_size,
        "overrides": overrides or None,
        "attempt": attempt,
        "test_auc": test_auc,
        "metrics": {k: (None if math.isnan(v) else v)
                    for k, v in cell_metrics(predictions, val_predictions).items()},
        "positive_class": task.classes.positive,
        "distinct_test_scores": int(len(np.unique(np.round(outcome["test_scores"], 6), axis=0))),
        "test_score_range": float(np.ptp(outcome["test_scores"], axis=0).max()),
        "best_epoch": outcome["best_epoch"],
        "best_val_loss": finite_or_none(outcome["best_val_loss"]),
        # undefined (a validation part without a class, a probe's -1 placeholder): none
        "best_val_auc": auc_or_none(outcome["best_val_auc"]),
        "resumed_from_epoch": outcome.get("resumed_from_epoch"),
        "epochs_run": len(outcome["history"]),
        "n_images": outcome["n"],
        "split_id": config.data.split_id,
        "data_id": config.data.data_id,
        "source_sha256": source.sha256,
        "localization": localization,
        "timings": {**outcome["timings"], "total_s": time.perf_counter() - started},
        "versions": versions(),
        "device": device(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    if keep["tensorboard"]:
        log_test_metrics(cell_dir.tensorboard_dir / "test",
                         {"test_auc": test_auc, **{f"test_{k}": v for k, v in
                                                   (result.metrics or {}).items() if k != "auc"}},
                         step=int(result.epochs_run or 0))
    cell_dir.write_result(result)
    cell_dir.resume_file.unlink(missing_ok=True)  # the cell ended: its resume point with it
    return result
