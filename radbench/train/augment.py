"""Train-time augmentation as Keras 3 preprocessing layers (TensorFlow, JAX and torch alike).

The layers are active only in training (`model.fit`) and are identity at inference. Geometric
transforms commute with the per-channel normalisation that follows, so applying them to raw pixels
inside the model matches the paper's ImageDataGenerator order.
"""

from __future__ import annotations

import math

import keras

from radbench.config.schema import Augmentation


def augmentation_layers(spec: Augmentation, seed: int) -> list[keras.layers.Layer]:
    """The layers for `spec`, each seeded from `seed` so a cell's augmentation is reproducible."""
    layers: list[keras.layers.Layer] = []
    fill = spec.fill_mode
    if spec.horizontal_flip or spec.vertical_flip:
        mode = "horizontal_and_vertical" if spec.horizontal_flip and spec.vertical_flip else (
            "horizontal" if spec.horizontal_flip else "vertical")
        layers.append(keras.layers.RandomFlip(mode, seed=seed))
    if spec.rotation_degrees:
        layers.append(keras.layers.RandomRotation(spec.rotation_degrees / 360.0, fill_mode=fill,
                                                  seed=seed + 1))
    if spec.width_shift or spec.height_shift:
        layers.append(keras.layers.RandomTranslation(spec.height_shift, spec.width_shift,
                                                     fill_mode=fill, seed=seed + 2))
    if spec.shear_degrees:
        # ImageDataGenerator's shear_range is an angle in degrees; RandomShear takes tan(angle).
        layers.append(keras.layers.RandomShear(x_factor=math.tan(math.radians(spec.shear_degrees)),
                                               y_factor=0.0, fill_mode=fill, seed=seed + 3))
    if spec.zoom:
        layers.append(keras.layers.RandomZoom(spec.zoom, spec.zoom, fill_mode=fill, seed=seed + 4))
    return layers
