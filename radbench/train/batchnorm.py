"""BatchNorm statistics that follow the weights: re-estimated on training images.

Keras' BatchNorm keeps moving averages with momentum 0.99 (0.999 in MobileNetV3), so after a
short or small-data run they stay near their initial values (0 and 1 from scratch; the
pretraining data's for a pretrained backbone), while training normalises with each batch's own
statistics. Inference then sees other features than training did: scratch cells give every test
image the same score, and a pretrained source whose statistics happen to be close to the target
images gains an edge that is not about its features.

`calibrate_batchnorm` sets every BatchNorm layer's moving mean and variance to the plain average
of its batch statistics over training images (no augmentation; weights unchanged), frozen
layers included. `BatchNormCalibration` does it as training starts and before every validation
(so the best-val-loss checkpoint, which keeps these statistics, and the test predictions use
them): the training setting `batchnorm_calibration: true`. The paper's setting is off.
"""

from __future__ import annotations

from typing import Sequence


def batchnorm_layers(base) -> list:
    import keras

    return [layer for layer in base._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)]


def calibrate_batchnorm(model, base, batches: Sequence, n_batches: int | None = None) -> int:
    """Re-estimate every BatchNorm layer's moving mean and variance in `base` as the plain
    average over `n_batches` (default: all) of `batches` (x, y) pairs, fed through the model's
    normalisation layer; returns the number of layers. Frozen layers are calibrated too."""
    import keras

    layers = batchnorm_layers(base)
    normalization = model.get_layer("normalization")
    saved = [(layer.momentum, layer.trainable) for layer in layers]
    count = len(batches) if n_batches is None else min(n_batches, len(batches))
    try:
        for layer in layers:
            layer.trainable = True  # a frozen layer ignores training=True
        for k in range(count):
            for layer in layers:
                layer.momentum = k / (k + 1)  # 0 first: the batch's statistics; then the average
            x = batches[k][0]
            base(normalization(keras.ops.convert_to_tensor(x)), training=True)
    finally:
        for layer, (momentum, trainable) in zip(layers, saved):
            layer.momentum, layer.trainable = momentum, trainable
    return len(layers)


def calibration_callback(model, base, batches: Sequence):
    """A Keras callback calibrating `base`'s BatchNorm statistics on `batches` as training
    begins and before every validation during training."""
    import keras

    class BatchNormCalibration(keras.callbacks.Callback):
        """Re-estimates BatchNorm statistics on training images (see radbench.train.batchnorm)."""

        def __init__(self):
            super().__init__()
            self.in_training = False

        def on_train_begin(self, logs=None):
            self.in_training = True
            calibrate_batchnorm(model, base, batches)

        def on_test_begin(self, logs=None):
            if self.in_training:
                calibrate_batchnorm(model, base, batches)

        def on_train_end(self, logs=None):
            self.in_training = False

    return BatchNormCalibration()

