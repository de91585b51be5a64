"""The backbone registry: constructor, smallest input, native preprocessing, Grad-CAM layer.

Importing this module does not import Keras; the constructors are looked up lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Backbone:
    """What radbench needs to know about one `keras.applications` architecture."""

    name: str
    constructor: str
    min_size: int
    native_mode: str  # imagenet_utils.preprocess_input mode: caffe, tf or torch
    gradcam_layer: str | None  # None: the last layer with a 4-D output
    radimagenet_arch: str | None  # the Arch in RadImageNet-<Arch>_notop.h5
    extra_kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self, image_size: int, weights: str | None = None):
        """Build the notop backbone with average pooling, as the paper does."""
        import keras

        if image_size < self.min_size:
            raise ValueError(f"{self.name} needs inputs of at least {self.min_size} px")
        constructor = getattr(keras.applications, self.constructor)
        keras_file = weights is not None and str(weights).endswith(".keras")
        model = constructor(
            include_top=False,
            weights=None if keras_file else weights,
            input_shape=(image_size, image_size, 3),
            pooling="avg",
            **self.extra_kwargs,
        )
        if keras_file:
            from radbench.models.weights import load_keras_file_into

            load_keras_file_into(model, weights)
        return model


BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in [
        Backbone("InceptionV3", "InceptionV3", 75, "tf", "mixed10", "InceptionV3"),
        Backbone("ResNet50", "ResNet50", 32, "caffe", "conv5_block3_out", "ResNet50"),
        Backbone("DenseNet121", "DenseNet121", 32, "torch", "relu", "DenseNet121"),
        Backbone("InceptionResNetV2", "InceptionResNetV2", 75, "tf", "conv_7b_ac", "IRV2"),
        # The smoke backbone. Keras' MobileNetV3 rescales inside the model by default; radbench
        # normalises outside (paper or native mode), so the built-in rescaling is turned off.
        Backbone("MobileNetV3Small", "MobileNetV3Small", 32, "tf", None, None,
                 {"include_preprocessing": False}),
    ]
}

BACKBONE_NAMES: tuple[str, ...] = tuple(BACKBONES)
PAPER_BACKBONES: tuple[str, ...] = ("InceptionV3", "ResNet50", "DenseNet121", "InceptionResNetV2")


def get_backbone(name: str) -> Backbone:
    """The registry entry for `name`; KeyError names the allowed values."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONE_NAMES)}")
