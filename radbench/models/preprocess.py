"""Input normalisation as a Keras layer: the paper's (caffe, then x 1/255) or each backbone's own."""

from __future__ import annotations

import keras
from keras import ops

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


def channel_affine(mode: str) -> tuple[list[int], list[float], list[float]]:
    """(channel order, offset, scale) so that out = (x[..., order] - offset) * scale.

    Modes follow `keras.applications.imagenet_utils.preprocess_input`; 'paper' is what the
    RadImageNet scripts did for every backbone: caffe mode, then multiplied by 1/255.
    """
    if mode in ("caffe", "paper"):
        factor = 1 / 255 if mode == "paper" else 1.0
        return [2, 1, 0], list(CAFFE_MEAN_BGR), [factor] * 3
    if mode == "tf":
        return [0, 1, 2], [127.5] * 3, [1 / 127.5] * 3
    if mode == "torch":
        return [0, 1, 2], [255 * m for m in TORCH_MEAN], [1 / (255 * s) for s in TORCH_STD]
    raise ValueError(f"unknown normalisation mode {mode!r}")


@keras.saving.register_keras_serializable(package="radbench")
class ChannelNormalization(keras.layers.Layer):
    """Reorders channels, subtracts a per-channel offset and multiplies by a per-channel scale."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        order, offset, scale = channel_affine(mode)
        self._order, self._offset, self._scale = order, offset, scale

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self._order != [0, 1, 2]:
            x = ops.take(x, self._order, axis=-1)
        offset = ops.convert_to_tensor(self._offset, dtype=self.compute_dtype)
        scale = ops.convert_to_tensor(self._scale, dtype=self.compute_dtype)
        return (x - offset) * scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
