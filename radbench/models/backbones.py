"""The backbone registry: one entry per architecture, with everything radbench needs to know of
it beside it (constructor, smallest input, native preprocessing, Grad-CAM layer, ImageNet file
with its URL and MD5, RadImageNet file). Adding a backbone is one `register_backbone` call; the
grids, `radbench weights status` and the parametrized backbone test then know it.

Importing this module does not import Keras; the constructors are looked up lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from radbench.registry import Registry

KERAS_APPLICATIONS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class WeightFile:
    """A published weights file: its name, the folder URL it is served from, and the hash
    Keras publishes for it (`published_hash`: an MD5, or a SHA-256 for the newer applications;
    `hash_kind` says which)."""

    file: str
    url: str
    published_hash: str

    @property
    def hash_kind(self) -> str:
        """'md5' or 'sha256', from the published hash's length (as keras.utils.get_file)."""
        return "sha256" if len(self.published_hash) == 64 else "md5"


@dataclass(frozen=True)
class Backbone:
    """What radbench needs to know about one `keras.applications` architecture."""

    name: str
    constructor: str  # the keras.applications function, or "module:function" for one of ours
    min_size: int  # smallest input side in pixels
    native_mode: str  # imagenet_utils.preprocess_input mode: caffe, tf or torch
    gradcam_layer: str | None  # None: the last layer with a 4-D output
    imagenet: WeightFile | None = None  # Keras' notop ImageNet file
    radimagenet_arch: str | None = None  # the Arch in RadImageNet-<Arch>_notop.h5
    paper: bool = False  # one of the four backbones of Mei et al. 2022
    extra_kwargs: dict[str, Any] = field(default_factory=dict)
    # training time per image pixel relative to ResNet50 (radbench.cost's estimates): from
    # FLOPs and wall time; ResNet50CIFAR keeps 4x the resolution through its body
    relative_cost: float = 1.0
    # Grad-CAM's closed form needs the target layer followed by global average pooling alone
    # (ConvNeXt normalises the pooled features): False leaves such cells without localization
    gradcam: bool = True
    modern: bool = False  # one of the backbones beyond the paper (issue 17)
    # millions of weights of the notop model (Keras' count_params, checked by the registry
    # test): the disk a kept model.keras takes (4 bytes each), printed by the dry run
    params_m: float = 25.0

    @property
    def radimagenet_file(self) -> str | None:
        """The file name radbench stores RadImageNet's weights of this backbone under."""
        return f"RadImageNet-{self.radimagenet_arch}_notop.h5" if self.radimagenet_arch else None

    def build(self, image_size: int, weights: str | None = None):
        """Build the notop backbone with average pooling, as the paper does."""
        import keras

        if image_size < self.min_size:
            raise ValueError(f"{self.name} needs inputs of at least {self.min_size} px")
        if ":" in self.constructor:
            import importlib

            module, function = self.constructor.split(":")
            constructor = getattr(importlib.import_module(module), function)
        else:
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
            from radbench.models.keras_file import load_keras_file_into

            load_keras_file_into(model, weights)
        return model


BACKBONES: Registry[Backbone] = Registry("backbone")


def register_backbone(backbone: Backbone) -> Backbone:
    """Add `backbone` to the registry (its name must be new); returns it."""
    return BACKBONES.register(backbone.name, backbone)


def get_backbone(name: str, where: str = "") -> Backbone:
    """The registry entry for `name`; a ConfigError names `where` and the registered ones."""
    return BACKBONES.get_entry(name, where)


def paper_backbones() -> list[str]:
    return [name for name, backbone in BACKBONES.items() if backbone.paper]


def _keras(folder: str, file: str, published_hash: str) -> WeightFile:
    return WeightFile(file, f"{KERAS_APPLICATIONS}{folder}/", published_hash)


register_backbone(Backbone(
    "InceptionV3", "InceptionV3", 75, "tf", "mixed10",
    _keras("inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "bcbd6486424b2319ff4ef7d526e38f63"), "InceptionV3", paper=True, relative_cost=0.8, params_m=21.8))
register_backbone(Backbone(
    "ResNet50", "ResNet50", 32, "caffe", "conv5_block3_out",
    _keras("resnet", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "4d473c1dd8becc155b73f8504c6f6626"), "ResNet50", paper=True, params_m=23.6))
register_backbone(Backbone(
    "DenseNet121", "DenseNet121", 32, "torch", "relu",
    _keras("densenet", "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "30ee3e1110167f948a6b9946edeeb738"), "DenseNet121", paper=True, params_m=7.0))
register_backbone(Backbone(
    "InceptionResNetV2", "InceptionResNetV2", 75, "tf", "conv_7b_ac",
    _keras("inception_resnet_v2",
           "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "d19885ff4a710c122648d3b5c3b684e4"), "IRV2", paper=True, relative_cost=1.9, params_m=54.3))
# The smoke backbone. Keras' MobileNetV3 rescales inside the model by default; radbench
# normalises outside (paper or native mode), so the built-in rescaling is turned off.
register_backbone(Backbone(
    "MobileNetV3Small", "MobileNetV3Small", 32, "tf", None,
    _keras("mobilenet_v3", "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
           "d3e8ec802a04aa4fc771ee12a9a9b836"),
    extra_kwargs={"include_preprocessing": False}, relative_cost=0.15, params_m=0.94))
# MedMNIST v2's ResNet-50 at 28 px: the CIFAR-style stem (3x3 stride 1, no max pool). No
# published ImageNet or RadImageNet weights; native mode tf = MedMNIST's [-1, 1] inputs.
register_backbone(Backbone(
    "ResNet50CIFAR", "radbench.models.cifar_resnet:ResNet50CIFAR", 16, "tf", "conv5_block3_out",
    relative_cost=10.0, params_m=23.5))

# Backbones beyond the paper's four, with Keras' published ImageNet weights. Each one's own
# input scaling (built into EfficientNetV2 and ConvNeXt, turned off here) is its native mode,
# applied outside the model like every other backbone's. The paper's freeze settings apply as
# they are: freezeall trains the head, unfreezetop10 the last ten layers as Keras lists them.
register_backbone(Backbone(
    "ResNet50V2", "ResNet50V2", 32, "tf", "post_relu",
    _keras("resnet", "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "fac2f116257151a9d068a22e544a4917"), modern=True, params_m=23.6))
register_backbone(Backbone(
    "DenseNet169", "DenseNet169", 32, "torch", "relu",
    _keras("densenet", "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "b8c4d4c20dd625c148057b9ff1c1176b"), modern=True, relative_cost=0.85, params_m=12.6))
register_backbone(Backbone(
    "MobileNetV3Large", "MobileNetV3Large", 32, "tf", None,
    _keras("mobilenet_v3", "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
           "07fb09a5933dd0c8eaafa16978110389"),
    extra_kwargs={"include_preprocessing": False}, modern=True, relative_cost=0.06, params_m=3.0))
register_backbone(Backbone(
    "EfficientNetV2B0", "EfficientNetV2B0", 32, "torch", "top_activation",
    _keras("efficientnet_v2", "efficientnetv2-b0_notop.h5", "893217f2bb855e2983157299931e43ff"),
    extra_kwargs={"include_preprocessing": False}, modern=True, relative_cost=0.18, params_m=5.9))
register_backbone(Backbone(
    "ConvNeXtTiny", "ConvNeXtTiny", 32, "torch", None,
    _keras("convnext", "convnext_tiny_notop.h5",
           "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    extra_kwargs={"include_preprocessing": False}, gradcam=False, modern=True,
    relative_cost=1.1, params_m=27.8))
