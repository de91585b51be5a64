"""`radbench weights export`: a backbone's weights, from any source radbench holds, as a PyTorch
`state_dict` for the matching torchvision model, or as a Keras 3 `.weights.h5` — verified.

The mapping goes by structure (Keras layer names of each stage and block to torchvision module
paths), never by the order of the arrays. What differs between the two implementations is
carried over exactly:
- Keras' BatchNorm epsilon is 1.001e-5 where torchvision's is 1e-5: the running variance gets
  the difference added, so gamma / sqrt(var + eps) is unchanged;
- Keras' ResNet50 convolutions have biases, torchvision's do not: each bias is folded into the
  BatchNorm that follows it (running mean minus bias);
- Keras' ResNet50 is ResNet v1 (a block's stride on its first 1x1 convolution), torchvision's is
  v1.5 (on the 3x3): the same arrays, but the model must stride where Keras does
  (`keras_strides`), which the export's check does and the README shows.
Before anything is written both models run on the same images and their pooled features must
agree within `tolerance` of the features' scale; a file that fails is not written.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from radbench.errors import ConfigError

KERAS_BN_EPSILON = 1.001e-5
TORCH_BN_EPSILON = 1e-5
TOLERANCE = 1e-4
FORMATS = ("torchvision", "keras")

REFUSED = {
    "InceptionV3": "Keras' and torchvision's InceptionV3 differ in their layers (torchvision adds "
                   "an input transform and auxiliary logits, and its stem and mixed blocks are "
                   "laid out differently), so no state_dict would reproduce the Keras features",
    "InceptionResNetV2": "torchvision has no InceptionResNetV2",
}


def torchvision_models():
    """torchvision.models; where torchvision's compiled operators do not load (a torchvision
    wheel built for CUDA beside a CPU-only torch), its pure-Python model definitions are read
    without the package's start-up, which is all the export needs."""
    try:
        import torchvision.models as models

        return models
    except (ImportError, RuntimeError, OSError):
        import importlib.util
        import types

        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        spec = importlib.util.find_spec("torchvision")
        if spec is None or spec.origin is None:
            raise ConfigError("weights export --format torchvision needs torch and torchvision "
                              "(pip install 'radbench[torch]')") from None
        package = types.ModuleType("torchvision")
        package.__path__ = [str(Path(spec.origin).parent)]
        sys.modules["torchvision"] = package
        import torchvision.models as models

        return models


def _conv(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, out) to torch (out, in, kh, kw)."""
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def _batchnorm(layer, prefix: str, conv_bias: np.ndarray | None = None) -> dict:
    gamma, beta, mean, variance = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
    if conv_bias is not None:
        mean = mean - conv_bias
    return {f"{prefix}.weight": gamma, f"{prefix}.bias": beta, f"{prefix}.running_mean": mean,
            f"{prefix}.running_var": variance + np.float32(layer.epsilon - TORCH_BN_EPSILON),
            f"{prefix}.num_batches_tracked": np.array(0, dtype=np.int64)}


def _densenet121(base) -> dict:
    state = {"features.conv0.weight": _conv(base.get_layer("conv1_conv").get_weights()[0])}
    state.update(_batchnorm(base.get_layer("conv1_bn"), "features.norm0"))
    for stage, blocks in enumerate((6, 12, 24, 16), start=1):
        for block in range(1, blocks + 1):
            keras_name = f"conv{stage + 1}_block{block}"
            torch_name = f"features.denseblock{stage}.denselayer{block}"
            state.update(_batchnorm(base.get_layer(f"{keras_name}_0_bn"), f"{torch_name}.norm1"))
            state[f"{torch_name}.conv1.weight"] = _conv(
                base.get_layer(f"{keras_name}_1_conv").get_weights()[0])
            state.update(_batchnorm(base.get_layer(f"{keras_name}_1_bn"), f"{torch_name}.norm2"))
            state[f"{torch_name}.conv2.weight"] = _conv(
                base.get_layer(f"{keras_name}_2_conv").get_weights()[0])
        if stage < 4:
            state.update(_batchnorm(base.get_layer(f"pool{stage + 1}_bn"),
                                    f"features.transition{stage}.norm"))
            state[f"features.transition{stage}.conv.weight"] = _conv(
                base.get_layer(f"pool{stage + 1}_conv").get_weights()[0])
    state.update(_batchnorm(base.get_layer("bn"), "features.norm5"))
    return state


def _resnet50(base) -> dict:
    kernel, bias = base.get_layer("conv1_conv").get_weights()
    state = {"conv1.weight": _conv(kernel)}
    state.update(_batchnorm(base.get_layer("conv1_bn"), "bn1", bias))
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for block in range(blocks):
            keras_name = f"conv{stage + 1}_block{block + 1}"
            torch_name = f"layer{stage}.{block}"
            parts = [("1", "conv1", "bn1"), ("2", "conv2", "bn2"), ("3", "conv3", "bn3")]
            if block == 0:
                parts.append(("0", "downsample.0", "downsample.1"))
            for index, conv, norm in parts:
                kernel, bias = base.get_layer(f"{keras_name}_{index}_conv").get_weights()
                state[f"{torch_name}.{conv}.weight"] = _conv(kernel)
                state.update(_batchnorm(base.get_layer(f"{keras_name}_{index}_bn"),
                                        f"{torch_name}.{norm}", bias))
    return state


def keras_strides(model) -> None:
    """Make a torchvision ResNet50 stride where Keras' ResNet50 does: on the first 1x1
    convolution of each stage's first block (ResNet v1), not on its 3x3 (v1.5)."""
    for layer in (model.layer2, model.layer3, model.layer4):
        layer[0].conv1.stride = (2, 2)
        layer[0].conv2.stride = (1, 1)


@dataclass(frozen=True)
class Exporter:
    """How one backbone becomes a torchvision model: the constructor, the mapping, the head to
    drop, and what must be changed after loading (None: nothing)."""

    constructor: str
    mapping: Callable
    head: str
    adjust: Callable | None = None


EXPORTERS = {
    "DenseNet121": Exporter("densenet121", _densenet121, "classifier"),
    "ResNet50": Exporter("resnet50", _resnet50, "fc", keras_strides),
}


def torch_model(backbone: str, state: dict | None = None):
    """The torchvision model of `backbone` without its head (features out), in eval mode, with
    `state` loaded strictly."""
    import torch

    exporter = EXPORTERS[backbone]
    model = getattr(torchvision_models(), exporter.constructor)(weights=None)
    setattr(model, exporter.head, torch.nn.Identity())
    if exporter.adjust:
        exporter.adjust(model)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()},
                              strict=True)
    return model.eval()


@dataclass
class ExportCheck:
    images: int
    max_abs_difference: float
    feature_scale: float

    @property
    def relative(self) -> float:
        return self.max_abs_difference / max(self.feature_scale, 1e-12)


def verify(base, backbone: str, state: dict, images: np.ndarray, mode: str) -> ExportCheck:
    """Both models on the same images (preprocessed as the weights expect): the largest
    difference of the pooled features and their largest magnitude."""
    import keras
    import torch

    from radbench.models.preprocess import ChannelNormalization

    pixels = keras.ops.convert_to_numpy(ChannelNormalization(mode)(images.astype("float32")))
    expected = np.asarray(base.predict(pixels, verbose=0), dtype=np.float64)
    model = torch_model(backbone, state)
    with torch.no_grad():
        got = model(torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))).numpy()
    return ExportCheck(len(images), float(np.max(np.abs(got - expected))),
                       float(np.max(np.abs(expected))))


def check_request(backbone: str, fmt: str) -> None:
    """A ConfigError, before any loading, for a format or backbone the export cannot serve."""
    from radbench.models.backbones import get_backbone

    get_backbone(backbone)
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected {' or '.join(FORMATS)} (timm: not yet)")
    if fmt == "torchvision" and backbone not in EXPORTERS:
        why = REFUSED.get(backbone, "no torchvision model matches it")
        raise ConfigError(f"weights export --backbone {backbone} --format torchvision: refused; "
                          f"{why}. Supported: {', '.join(EXPORTERS)}")


def export_weights(source: str, backbone: str, fmt: str, out: Path,
                   images: np.ndarray | None = None, tolerance: float = TOLERANCE
                   ) -> ExportCheck | None:
    """Write `source`'s weights for `backbone` to `out` in `fmt`, after the check (torchvision);
    returns the check. Nothing is written when the features disagree (ConfigError)."""
    from radbench.models.backbones import get_backbone
    from radbench.models.sources import check_source, input_mode, resolve_source
    from radbench.quiet import import_backend_quietly
    from radbench.store import written_beside

    check_request(backbone, fmt)
    check_source(source, [backbone])
    out = Path(out)
    if fmt == "keras" and not out.name.endswith(".weights.h5"):
        raise ConfigError(f"--out {out}: a Keras weights file name must end in .weights.h5")
    import_backend_quietly()
    resolved = resolve_source(source, backbone)
    size = images.shape[1] if images is not None else max(get_backbone(backbone).min_size, 64)
    base = get_backbone(backbone).build(size, weights=resolved.weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        with written_beside(out) as partial:
            base.save_weights(partial)
        return None
    import torch

    if images is None:
        images = np.random.default_rng(0).integers(0, 256, (8, size, size, 3)).astype("uint8")
    state = EXPORTERS[backbone].mapping(base)
    check = verify(base, backbone, state, images, input_mode(source, backbone, "native"))
    if not check.relative <= tolerance:
        raise ConfigError(f"weights export {source} {backbone}: the torchvision features differ "
                          f"from Keras' by {check.max_abs_difference:.3g} ({check.relative:.2g} "
                          f"of their scale {check.feature_scale:.3g}), above the tolerance "
                          f"{tolerance:g}; nothing written")
    with written_beside(out) as partial:
        torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, partial)
    return check
