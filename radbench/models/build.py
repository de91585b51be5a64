"""The classifier of one cell: input → augmentation → normalisation → backbone → head."""

from __future__ import annotations

from typing import get_args

import keras

from radbench.config.schema import FineTuneName, Training
from radbench.models.augment import augmentation_layers
from radbench.models.backbones import get_backbone
from radbench.models.preprocess import ChannelNormalization
from radbench.models.sources import input_mode

FREEZE_SETTINGS: tuple[str, ...] = get_args(FineTuneName)  # the paper's three, one owner


def apply_freeze(base: keras.Model, freeze: str) -> None:
    """The paper's freeze settings. Frozen BatchNorm layers run in inference mode (Keras 3).
    Every layer's flag is set, so the same model may go from one setting to another."""
    if freeze not in FREEZE_SETTINGS:
        raise ValueError(f"unknown freeze setting {freeze!r}; expected one of {FREEZE_SETTINGS}")
    base.trainable = freeze != "freezeall"
    top = len(base.layers) - 10
    for index, layer in enumerate(base.layers):
        layer.trainable = freeze == "unfreezeall" or (freeze == "unfreezetop10" and index >= top)


def build_classifier(backbone: str, training: Training, freeze: str, weights: str | None,
                     seed: int, classes: int = 2, source: str | None = None
                     ) -> tuple[keras.Model, keras.Model]:
    """Return (model, base). The model takes float pixels in 0..255 and outputs `classes` softmax
    columns; for a task (2 classes) column 1 is the positive class. `source` (the cell's
    pretraining source) decides the input normalisation under `normalization: native`."""
    entry = get_backbone(backbone)
    size = training.image_size
    inputs = keras.Input((size, size, 3), name="pixels")
    x = inputs
    for layer in augmentation_layers(training.augmentation, seed):
        x = layer(x)
    mode = input_mode(source, backbone, training.normalization)
    x = ChannelNormalization(mode, name="normalization")(x)
    base = entry.build(size, weights=weights)
    apply_freeze(base, freeze)
    if training.batchnorm_momentum is not None:
        for layer in base._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = training.batchnorm_momentum
    features = base(x)
    features = keras.layers.Dropout(training.head_dropout, seed=seed, name="head_dropout")(features)
    # under mixed precision the softmax and the loss stay in float32
    outputs = keras.layers.Dense(classes, activation="softmax", name="head_dense",
                                 dtype="float32" if training.precision != "float32" else None
                                 )(features)
    return keras.Model(inputs, outputs, name=f"{backbone}_{freeze}"), base
