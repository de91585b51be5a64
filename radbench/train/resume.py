"""Per-epoch resume: a killed, preempted or requeued cell continues at its next epoch.

At the end of every epoch a running cell writes one checkpoint, `cells/<id>/resume.npz`,
atomically (a temporary file renamed over the last one), holding everything the next epoch
depends on:

- every variable of the model (weights, BatchNorm statistics, and the augmentation and dropout
  layers' seed-generator states, which Keras' own weight files leave out) and of the optimizer
  (Adam's moments, its step count);
- the state of the callback that keeps the best epoch (its best value, epoch, patience count
  and, when that epoch is not the last one, its weights);
- the history rows of the finished epochs;
- a fingerprint of the cell (its scenario and training settings, the batch size it runs with,
  its number of training images and classes): a checkpoint of other settings is never loaded.

The next attempt of the cell loads it before `fit`, replays the training batches' shuffles of the
finished epochs (the order of epoch k is the k-th draw of the cell's seeded generator), and
starts `fit` at the next epoch. Keras' BackupAndRestore restores weights, optimizer and epoch
only: without the seed states and the best-epoch state a resumed cell would train on other
augmentations and could keep another epoch. The checkpoint is removed when the cell ends, done
or failed for a reason of its own; it stays after a fault of the machine so that the retry
resumes.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT_FORMAT = 1


def fingerprint(cell, classes: int, n_train: int) -> str:
    """What must be equal for a checkpoint to continue this cell."""
    return json.dumps({"format": CHECKPOINT_FORMAT, "cell": cell.to_dict(),
                       "batch_size": cell.training.batch_size, "classes": classes,
                       "train": n_train}, sort_keys=True, default=str)


def _values(variables) -> list[np.ndarray]:
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in variables]


class EpochCheckpoint:
    """The resume checkpoint of one cell: `restore` before fit, `callback` during fit."""

    def __init__(self, path: Path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.rows: list[dict[str, Any]] = []
        self.start_epoch = 0
        self.note = ""
        self._best: dict[str, Any] | None = None
        self._best_weights: list[np.ndarray] | None = None

    def restore(self, model, train_batches) -> int:
        """Load the checkpoint into `model` (and its optimizer, built here if needed), replay
        the batch order of the finished epochs; returns the epoch to start at (0: none, or one
        that does not fit this cell, which is removed and said in `note`)."""
        if not self.path.is_file():
            return 0
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                meta = json.loads(str(stored["meta"]))
                arrays = {key: stored[key] for key in stored.files if key != "meta"}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            return self._discard(f"unreadable ({type(exc).__name__})")
        if meta.get("fingerprint") != self.fingerprint:
            return self._discard("written for other settings")
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        targets = [*model.variables, *model.optimizer.variables]
        if meta.get("variables") != len(targets) or len(arrays) < len(targets):
            return self._discard("written for another model")
        for index, variable in enumerate(targets):
            value = arrays[f"v{index}"]
            if tuple(value.shape) != tuple(variable.shape):
                return self._discard("written for another model")
            variable.assign(value)
        best_count = meta["best"].pop("weights", 0)
        self._best = meta["best"]
        self._best_weights = [arrays[f"b{i}"] for i in range(best_count)] if best_count else None
        self.rows = meta["rows"]
        self.start_epoch = int(meta["epoch"])
        for _ in range(self.start_epoch):  # the order of each finished epoch, drawn again
            train_batches.on_epoch_end()
        self.note = f"resumed at epoch {self.start_epoch + 1} from the checkpoint of epoch " \
                    f"{self.start_epoch}"
        return self.start_epoch

    def _discard(self, why: str) -> int:
        self.path.unlink(missing_ok=True)
        self.note = f"resume checkpoint {self.path.name} {why}: removed, the cell starts at " \
                    f"epoch 1"
        return 0

    def callback(self, keep_best):
        """The Keras callback: last in the list, it gives `keep_best` (EarlyStopping) its
        restored state as training begins, and after every epoch records the epoch's logs and
        writes the checkpoint."""
        import keras

        checkpoint = self

        class WriteCheckpoint(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                if checkpoint._best is not None:
                    keep_best.best = checkpoint._best["value"]
                    keep_best.best_epoch = int(checkpoint._best["epoch"])
                    keep_best.wait = int(checkpoint._best["wait"])
                    keep_best.best_weights = checkpoint._best_weights \
                        if checkpoint._best_weights is not None else self.model.get_weights()

            def on_epoch_end(self, epoch, logs=None):
                checkpoint.rows.append({k: float(v) for k, v in (logs or {}).items()})
                checkpoint.write(self.model, keep_best, epoch + 1)

        return WriteCheckpoint()

    def write(self, model, keep_best, epochs_done: int) -> None:
        """The checkpoint after `epochs_done` epochs, written atomically."""
        arrays = {f"v{i}": value for i, value in
                  enumerate(_values([*model.variables, *model.optimizer.variables]))}
        best_is_current = keep_best.best_epoch == epochs_done - 1
        best_weights = [] if best_is_current or keep_best.best_weights is None else \
            keep_best.best_weights
        arrays.update({f"b{i}": np.asarray(w) for i, w in enumerate(best_weights)})
        best = {"value": None if keep_best.best is None else float(keep_best.best),
                "epoch": int(keep_best.best_epoch), "wait": int(keep_best.wait),
                "weights": len(best_weights)}
        meta = {"fingerprint": self.fingerprint, "epoch": epochs_done, "rows": self.rows,
                "best": best, "variables": len(model.variables) +
                len(model.optimizer.variables)}
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.npz")
        try:
            np.savez(partial, meta=np.array(json.dumps(meta)), **arrays)
            os.replace(partial, self.path)
        except OSError:  # a full disk costs the resume point, never the training
            partial.unlink(missing_ok=True)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
