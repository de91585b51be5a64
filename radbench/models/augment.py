"""Train-time augmentation: the paper's ImageDataGenerator transform as one Keras 3 layer.

The authors' scripts augment with `ImageDataGenerator(rotation_range, width_shift_range,
height_shift_range, shear_range, zoom_range, horizontal_flip, fill_mode)`, which draws the
parameters per image, composes rotation · shift · shear · zoom into one affine matrix about the
image centre, resamples once (bilinear, scipy's `order=1`) and then flips. `RandomAffine` does the
same per image inside the model, with `keras.ops` only (TensorFlow, JAX and torch alike): one
resampling per image instead of one per transform, which is both cheaper and closer to the paper
than a chain of RandomRotation / RandomTranslation / RandomShear / RandomZoom layers (each of
which interpolates again).

One difference on purpose: the Keras 3 legacy generator applies `height_shift_range` along the
columns and `width_shift_range` along the rows (its x/y swap); here height moves rows and width
moves columns. With the paper's equal ranges the two draw the same transforms.

The layer is active only in training (`model.fit`) and is the identity at inference. Geometric
transforms commute with the per-channel normalisation that follows, so applying them to raw pixels
inside the model matches the generator's order (transform, then preprocessing_function).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from radbench.config.schema import Augmentation


def affine_transforms(theta_degrees, shift_x, shift_y, shear_degrees, zoom_x, zoom_y,
                      flip_horizontal, flip_vertical, height: int, width: int):
    """Per-image transforms in `keras.ops.image.affine_transform`'s 8-vector form.

    Every argument but the sizes is a float tensor of shape (batch,): rotation and shear in
    degrees, shifts in pixels (x: along columns, y: along rows), zoom factors (> 1 shows a larger
    area, as in the generator), flips as 0/1. The matrix is the generator's: rotation · shift ·
    shear · zoom in (x, y) coordinates, centred on the image, then the flips; it maps an output
    pixel to the input point it samples.
    """
    theta = theta_degrees * (math.pi / 180.0)
    shear = shear_degrees * (math.pi / 180.0)
    zeros, ones = ops.zeros_like(theta), ops.ones_like(theta)

    def matrix(rows):
        return ops.stack([ops.stack(row, axis=-1) for row in rows], axis=-2)

    rotation = matrix([[ops.cos(theta), -ops.sin(theta), zeros],
                       [ops.sin(theta), ops.cos(theta), zeros], [zeros, zeros, ones]])
    shift = matrix([[ones, zeros, shift_x], [zeros, ones, shift_y], [zeros, zeros, ones]])
    shearing = matrix([[ones, -ops.sin(shear), zeros], [zeros, ops.cos(shear), zeros],
                       [zeros, zeros, ones]])
    zooming = matrix([[zoom_x, zeros, zeros], [zeros, zoom_y, zeros], [zeros, zeros, ones]])
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    to_centre = matrix([[ones, zeros, zeros + centre_x], [zeros, ones, zeros + centre_y],
                        [zeros, zeros, ones]])
    from_centre = matrix([[ones, zeros, zeros - centre_x], [zeros, ones, zeros - centre_y],
                          [zeros, zeros, ones]])
    # a flip after the transform reads the transformed image at the mirrored point
    sign_x, sign_y = 1.0 - 2.0 * flip_horizontal, 1.0 - 2.0 * flip_vertical
    flips = matrix([[sign_x, zeros, flip_horizontal * (width - 1)],
                    [zeros, sign_y, flip_vertical * (height - 1)], [zeros, zeros, ones]])
    total = to_centre
    for factor in (rotation, shift, shearing, zooming, from_centre, flips):
        total = ops.matmul(total, factor)
    return ops.concatenate([ops.reshape(total, (-1, 9))[:, :6],
                            ops.zeros((ops.shape(theta)[0], 2), dtype=theta.dtype)], axis=-1)


@keras.saving.register_keras_serializable(package="radbench")
class RandomAffine(keras.layers.Layer):
    """ImageDataGenerator's random transform, drawn per image from the layer's seed."""

    def __init__(self, rotation_degrees: float = 0.0, width_shift: float = 0.0,
                 height_shift: float = 0.0, shear_degrees: float = 0.0, zoom: float = 0.0,
                 horizontal_flip: bool = False, vertical_flip: bool = False,
                 fill_mode: str = "nearest", interpolation: str = "bilinear",
                 seed: int | None = None, **kwargs):
        # pixels are transformed in float32 whatever the precision policy of the model
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.rotation_degrees, self.shear_degrees = float(rotation_degrees), float(shear_degrees)
        self.width_shift, self.height_shift = float(width_shift), float(height_shift)
        self.zoom = float(zoom)
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.fill_mode, self.interpolation, self.seed = fill_mode, interpolation, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, low: float, high: float):
        if low == high:
            return ops.full((batch,), low, dtype="float32")
        return keras.random.uniform((batch,), low, high, dtype="float32",
                                    seed=self.seed_generator)

    def _coin(self, batch, enabled: bool):
        if not enabled:
            return ops.zeros((batch,), dtype="float32")
        draw = keras.random.uniform((batch,), dtype="float32", seed=self.seed_generator)
        return ops.cast(draw < 0.5, "float32")

    def call(self, images, training=None):
        if not training:
            return images
        batch = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        transforms = affine_transforms(
            self._uniform(batch, -self.rotation_degrees, self.rotation_degrees),
            self._uniform(batch, -self.width_shift, self.width_shift) * width,
            self._uniform(batch, -self.height_shift, self.height_shift) * height,
            self._uniform(batch, -self.shear_degrees, self.shear_degrees),
            self._uniform(batch, 1.0 - self.zoom, 1.0 + self.zoom),
            self._uniform(batch, 1.0 - self.zoom, 1.0 + self.zoom),
            self._coin(batch, self.horizontal_flip), self._coin(batch, self.vertical_flip),
            height, width)
        return ops.image.affine_transform(images, transforms, interpolation=self.interpolation,
                                          fill_mode=self.fill_mode,
                                          data_format="channels_last")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees,
                "width_shift": self.width_shift, "height_shift": self.height_shift,
                "shear_degrees": self.shear_degrees, "zoom": self.zoom,
                "horizontal_flip": self.horizontal_flip, "vertical_flip": self.vertical_flip,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "seed": self.seed}


def augmentation_layers(spec: Augmentation, seed: int) -> list[keras.layers.Layer]:
    """The layers for `spec` (none when it is off), seeded from `seed` so a cell's augmentation
    is reproducible."""
    if not spec.enabled:
        return []
    return [RandomAffine(spec.rotation_degrees, spec.width_shift, spec.height_shift,
                         spec.shear_degrees, spec.zoom, spec.horizontal_flip,
                         spec.vertical_flip, fill_mode=spec.fill_mode, seed=seed,
                         name="augmentation")]
