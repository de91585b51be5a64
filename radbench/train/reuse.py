"""Sharing a built, compiled model between cells that differ only in learning rate or fold.

Building a backbone and tracing its training step costs 20–70 s per model on 2 CPU cores, often
more than the training of a smoke cell. Cells with the same backbone, source, freeze setting,
seed and training settings build the same model with the same initial weights; the second one
therefore restores the first one's initial state (every variable, the augmentation and dropout
seed states included), zeroes the optimizer's state and sets its own learning rate, and trains
the already traced model: the same computation as a fresh process, without the build and trace.
"""

from __future__ import annotations

import json
from typing import Any

from radbench.cellspec import Cell
from radbench.provenance import run_eagerly


def model_key(cell: Cell, weights: str | None, classes: int = 2) -> str:
    """What decides the built model and its initial state: the cell's model key (all but the
    learning rate and fold), the weights file it starts from, the number of classes."""
    return json.dumps({"cell": cell.model_key(), "weights": weights, "classes": classes},
                      sort_keys=True)


def jit_setting(value: bool | None) -> bool:
    """`jit_compile` for the backend: XLA on JAX (off means eager there); off on TensorFlow
    (XLA refuses the augmentation layers' ops) and torch (compilation costs more than it saves
    for one cell), unless the training settings ask for it."""
    import keras

    if value is not None:
        return bool(value)
    return keras.backend.backend() == "jax"


class ModelReuse:
    """Holds the last compiled model of this process and its initial state."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.model: Any = None
        self._initial: list[Any] = []
        self._optimizer_initial: list[Any] = []
        self.reused = 0

    def model_for(self, cell: Cell, weights: str | None, classes: int = 2):
        """A compiled model in its initial state for `cell`; returns (model, reused)."""
        import keras

        key = model_key(cell, weights, classes)
        if key == self.key and self.model is not None:
            self._reset(cell.lr)
            self.reused += 1
            return self.model, True
        self.forget()
        model = build_compiled(cell, weights, classes)
        model.optimizer.build(model.trainable_variables)  # as fit would; its state is kept too
        self._initial = [keras.ops.convert_to_numpy(v) for v in model.variables]
        self._optimizer_initial = [keras.ops.convert_to_numpy(v)
                                   for v in model.optimizer.variables]
        self.key, self.model = key, model
        return model, False

    def _reset(self, lr: float) -> None:
        for variable, value in zip(self.model.variables, self._initial):
            variable.assign(value)
        optimizer = self.model.optimizer
        for variable, value in zip(optimizer.variables, self._optimizer_initial):
            variable.assign(value)
        optimizer.learning_rate = lr

    def forget(self) -> None:
        """Drop the held model (after a failure, or before building another)."""
        import keras

        self.key, self.model, self._initial, self._optimizer_initial = None, None, [], []
        keras.backend.clear_session()


def build_compiled(cell: Cell, weights: str | None, classes: int = 2):
    """Build and compile `cell`'s classifier, as a fresh cell process does: `classes` softmax
    columns; two classes keep the paper's binary cross-entropy on the one-hot pair, more take
    categorical cross-entropy."""
    import keras

    from radbench.models.build import build_classifier

    keras.mixed_precision.set_global_policy(cell.training.precision)
    keras.utils.set_random_seed(cell.seed)
    model, _ = build_classifier(cell.backbone, cell.training, cell.freeze, weights, cell.seed,
                                classes=classes, source=cell.source)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cell.lr),
                  loss="binary_crossentropy" if classes == 2 else "categorical_crossentropy",
                  metrics=["accuracy"], run_eagerly=run_eagerly(),
                  jit_compile=False if run_eagerly() else jit_setting(cell.training.jit_compile))
    return model
