"""`radbench weights export`: a backbone's weights, from any source radbench holds, as a PyTorch
`state_dict` for the matching torchvision or timm model, or as a Keras 3 `.weights.h5` — verified.

The mapping goes by structure (Keras layer names of each stage and block to torch module paths;
for InceptionResNetV2, whose branch layers Keras names only by a counter, the branches of each
block are followed through the Keras graph), never by the order of the arrays. What differs
between the implementations is carried over exactly:
- Keras' BatchNorm epsilon is 1.001e-5 where torchvision's is 1e-5: the running variance gets
  the difference added, so gamma / sqrt(var + eps) is unchanged;
- Keras' ResNet50 convolutions have biases, torchvision's do not: each bias is folded into the
  BatchNorm that follows it (running mean minus bias);
- Keras' ResNet50 is ResNet v1 (a block's stride on its first 1x1 convolution), torchvision's is
  v1.5 (on the 3x3): the same arrays, but the model must stride where Keras does
  (`keras_strides`), which the export's check does and the README shows;
- Keras' Inception BatchNorm has no scale (gamma): timm's gets ones.
Before anything is written both models run on the same images and their pooled features must
agree within `tolerance` of the features' scale; a file that fails is not written.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from radbench.errors import ConfigError
from radbench.registry import Registry

KERAS_BN_EPSILON = 1.001e-5
TORCH_BN_EPSILON = 1e-5
INCEPTION_BN_EPSILON = 1e-3  # timm's InceptionResNetV2, as Keras'
TOLERANCE = 1e-4
FORMATS = ("torchscript", "torchvision", "timm", "onnx", "keras")

# how ResNet50's state_dict must be loaded (printed by the command whenever it writes one)
STRIDE_MOVE = (
    "Keras' ResNet50 is v1 (a stage's stride on its first 1x1 convolution), torchvision's and "
    "timm's are v1.5 (on the 3x3): same arrays, other strides. Loaded as it is, the state_dict "
    "gives features about 6 % off without a warning. Load it like this:\n"
    "    model = torchvision.models.resnet50(weights=None); model.fc = torch.nn.Identity()\n"
    "    for layer in (model.layer2, model.layer3, model.layer4):\n"
    "        layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)\n"
    "    model.load_state_dict(torch.load(PATH), strict=True)\n"
    "or export --format torchscript, which carries the architecture: torch.jit.load(PATH).")

INCEPTION_V3 = ("the 3x3 average pools of Keras' InceptionV3 (padding 'same') average over the "
                "image only, those of {library}'s count the zero padding, so at every border "
                "the features differ and no state_dict reproduces Keras'")
REFUSED = {
    ("InceptionV3", "torchvision"): INCEPTION_V3.format(library="torchvision"),
    ("InceptionV3", "timm"): INCEPTION_V3.format(library="timm"),
    ("InceptionResNetV2", "torchvision"): "torchvision has no InceptionResNetV2 (--format timm "
                                          "has it)",
}


def torchvision_models():
    """torchvision.models, or a one-line error naming the extra that brings it."""
    try:
        import torchvision.models as models
    except ImportError:
        raise ConfigError("weights export --format torchvision needs torch and torchvision "
                          "(pip install 'radbench[export]')") from None
    return models


def _conv(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, out) to torch (out, in, kh, kw)."""
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def _batchnorm(layer, prefix: str, conv_bias: np.ndarray | None = None,
               torch_epsilon: float = TORCH_BN_EPSILON) -> dict:
    arrays = [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]
    if not layer.scale:  # Inception's BatchNorm: no gamma
        arrays.insert(0, np.ones_like(arrays[-1]))
    if not layer.center:
        arrays.insert(1, np.zeros_like(arrays[-1]))
    gamma, beta, mean, variance = arrays
    if conv_bias is not None:
        mean = mean - conv_bias
    return {f"{prefix}.weight": gamma, f"{prefix}.bias": beta, f"{prefix}.running_mean": mean,
            f"{prefix}.running_var": variance + np.float32(layer.epsilon - torch_epsilon),
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
    """Make a torchvision (or timm) ResNet50 stride where Keras' ResNet50 does: on the first
    1x1 convolution of each stage's first block (ResNet v1), not on its 3x3 (v1.5)."""
    for layer in (model.layer2, model.layer3, model.layer4):
        layer[0].conv1.stride = (2, 2)
        layer[0].conv2.stride = (1, 1)


def _parents(layer) -> list:
    """The layers whose outputs `layer` takes (Keras 3's functional graph)."""
    nodes = layer._inbound_nodes
    return [t._keras_history.operation for t in nodes[0].input_tensors] if nodes else []


def _path_back(layer) -> list:
    """`layer`, its parent, its parent's parent... while each takes one input."""
    path = [layer]
    while len(parents := _parents(path[-1])) == 1:
        path.append(parents[0])
    return path


def _branches(concat) -> tuple[list[list], object]:
    """The branches a Concatenate joins, each as its layers in forward order (in the order
    Keras concatenates them), and the layer they all start from."""
    paths = [_path_back(parent) for parent in _parents(concat)]
    start = next(layer for layer in paths[0] if all(layer in path for path in paths[1:]))
    return [path[:path.index(start)][::-1] for path in paths], start


def _conv_bn(conv, bn, prefix: str) -> dict:
    """A convolution without bias and its BatchNorm (timm's ConvNormAct; BatchNorm eps 1e-3)."""
    state = {f"{prefix}.conv.weight": _conv(conv.get_weights()[0])}
    state.update(_batchnorm(bn, f"{prefix}.bn", torch_epsilon=INCEPTION_BN_EPSILON))
    return state


def _conv_bns(layers: list, prefix: str) -> dict:
    """Every convolution + BatchNorm of one branch, named as timm names its modules: a lone
    one is the branch itself, several are a Sequential, after a pooling layer when it leads."""
    import keras

    convs = [(layer, layers[i + 1]) for i, layer in enumerate(layers)
             if isinstance(layer, keras.layers.Conv2D)]
    offset = 1 if layers and not isinstance(layers[0], keras.layers.Conv2D) else 0
    if len(convs) == 1 and not offset:
        return _conv_bn(*convs[0], prefix)
    state = {}
    for index, (conv, bn) in enumerate(convs):
        state.update(_conv_bn(conv, bn, f"{prefix}.{index + offset}"))
    return state


def _inception_resnet_v2(base) -> dict:
    """Keras' InceptionResNetV2 to timm's `inception_resnet_v2`: the stem's five convolutions,
    then each block's branches (followed back from its named Concatenate) and its named
    residual convolution, then conv_7b."""
    import keras

    blocks = [("mixed_5b", "mixed_5b")]
    blocks += [(f"block35_{i}_mixed", f"repeat.{i - 1}") for i in range(1, 11)]
    blocks += [("mixed_6a", "mixed_6a")]
    blocks += [(f"block17_{i}_mixed", f"repeat_1.{i - 1}") for i in range(1, 21)]
    blocks += [("mixed_7a", "mixed_7a")]
    blocks += [(f"block8_{i}_mixed", f"repeat_2.{i - 1}" if i < 10 else "block8")
               for i in range(1, 11)]
    state: dict = {}
    _, stem_end = _branches(base.get_layer("mixed_5b"))
    stem = [layer for layer in _path_back(stem_end)[::-1]
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization))]
    for index, name in enumerate(("conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b",
                                  "conv2d_4a")):
        state.update(_conv_bn(stem[2 * index], stem[2 * index + 1], name))
    for keras_name, torch_name in blocks:
        branches, _ = _branches(base.get_layer(keras_name))
        for index, layers in enumerate(branches):
            state.update(_conv_bns(layers, f"{torch_name}.branch{index}"))
        if keras_name.endswith("_mixed"):
            kernel, bias = base.get_layer(keras_name.replace("_mixed", "_conv")).get_weights()
            state[f"{torch_name}.conv2d.weight"] = _conv(kernel)
            state[f"{torch_name}.conv2d.bias"] = np.asarray(bias, dtype=np.float32)
    state.update(_conv_bn(base.get_layer("conv_7b"), base.get_layer("conv_7b_bn"), "conv2d_7b"))
    return state


@dataclass(frozen=True)
class Exporter:
    """How one backbone becomes a torch model: the mapping, the torchvision constructor and
    the head to drop (None: torchvision has none), the timm model (None: timm has none), and
    what must be changed after building (None: nothing)."""

    mapping: Callable
    torchvision: str | None = None
    head: str | None = None
    timm: str | None = None
    adjust: Callable | None = None


# backbone name -> how it exports (a new exportable backbone is one entry)
EXPORTERS: Registry[Exporter] = Registry("exportable backbone")
EXPORTERS.register("DenseNet121", Exporter(_densenet121, "densenet121", "classifier",
                                           "densenet121"))
EXPORTERS.register("ResNet50", Exporter(_resnet50, "resnet50", "fc", "resnet50", keras_strides))
EXPORTERS.register("InceptionResNetV2", Exporter(_inception_resnet_v2,
                                                 timm="inception_resnet_v2"))


def supported(fmt: str) -> list[str]:
    """The backbones `fmt` (torchscript, torchvision or timm) can export."""
    if fmt == "torchscript":  # a traced torchvision or timm model
        return [name for name, e in EXPORTERS.items() if e.torchvision or e.timm]
    return [name for name, e in EXPORTERS.items() if getattr(e, fmt)]


def default_format(backbone: str) -> str:
    """What `weights export` writes when no --format is given: a TorchScript file where the
    torch model differs from Keras' in structure (ResNet50's strides), so that it loads right
    with one call; torchvision's state_dict (timm's where torchvision has no model); ONNX where
    no torch model reproduces the backbone."""
    if backbone not in EXPORTERS:
        return "onnx"  # no torch model reproduces it (InceptionV3): Keras' own graph
    exporter = EXPORTERS[backbone]
    if exporter.adjust is not None:
        return "torchscript"
    return "torchvision" if exporter.torchvision else "timm"


def _model_library(backbone: str, fmt: str) -> str:
    """The library whose model a format loads into (torchscript traces torchvision's, else
    timm's)."""
    if fmt != "torchscript":
        return fmt
    return "torchvision" if EXPORTERS[backbone].torchvision else "timm"


def timm_module():
    """timm, or a one-line error naming the extra that brings it."""
    try:
        import timm
    except ImportError:
        raise ConfigError("weights export --format timm needs timm (pip install "
                          "'radbench[export]')") from None
    return timm


def torch_model(backbone: str, state: dict | None = None, fmt: str = "torchvision"):
    """The torchvision or timm model of `backbone` without its head (pooled features out), in
    eval mode, with `state` loaded strictly."""
    import torch

    exporter = EXPORTERS[backbone]
    fmt = _model_library(backbone, fmt)
    if fmt == "timm":
        model = timm_module().create_model(exporter.timm, pretrained=False, num_classes=0)
    else:
        model = getattr(torchvision_models(), exporter.torchvision)(weights=None)
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


def verify(base, backbone: str, state: dict, images: np.ndarray, mode: str,
           fmt: str = "torchvision") -> ExportCheck:
    """Both models on the same images (preprocessed as the weights expect): the largest
    difference of the pooled features and their largest magnitude."""
    import keras
    import torch

    from radbench.models.preprocess import ChannelNormalization

    pixels = keras.ops.convert_to_numpy(ChannelNormalization(mode)(images.astype("float32")))
    expected = np.asarray(base.predict(pixels, verbose=0), dtype=np.float64)
    model = torch_model(backbone, state, fmt)
    with torch.no_grad():
        got = model(torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))).numpy()
    return ExportCheck(len(images), float(np.max(np.abs(got - expected))),
                       float(np.max(np.abs(expected))))


def check_request(backbone: str, fmt: str) -> None:
    """A ConfigError, before any loading, for a format or backbone the export cannot serve."""
    from radbench.models.backbones import get_backbone

    get_backbone(backbone)
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected {', '.join(FORMATS)}")
    if fmt == "onnx":  # any backbone: Keras writes it
        from radbench.models.onnx_export import check_available

        check_available()
        return
    if fmt != "keras" and importlib.util.find_spec("torch") is None:
        raise ConfigError(f"weights export --format {fmt} needs PyTorch (pip install "
                          f"'radbench[export]')")
    if fmt != "keras" and backbone not in supported(fmt):
        why = REFUSED.get((backbone, fmt), f"no {fmt} model matches it")
        raise ConfigError(f"weights export --backbone {backbone} --format {fmt}: refused; "
                          f"{why}. Supported: {', '.join(supported(fmt))}")


def export_weights(source: str, backbone: str, fmt: str, out: Path,
                   images: np.ndarray | None = None, tolerance: float = TOLERANCE,
                   image_size: int | None = None) -> ExportCheck | None:
    """Write `source`'s weights for `backbone` to `out` in `fmt`, after the check (every format
    but keras); returns the check. Nothing is written when the features disagree (ConfigError).
    `image_size`: the size of the generated check images and, for onnx, of the exported graph's
    input (default: the images' size, else 64 px; 256 for onnx)."""
    from radbench.models.backbones import get_backbone
    from radbench.models.sources import check_source, input_mode, resolve_source
    from radbench.quiet import import_backend_quietly
    from radbench.atomic import written_beside

    check_request(backbone, fmt)
    check_source(source, [backbone])
    out = Path(out)
    if fmt == "keras" and not out.name.endswith(".weights.h5"):
        raise ConfigError(f"--out {out}: a Keras weights file name must end in .weights.h5")
    import_backend_quietly()
    resolved = resolve_source(source, backbone)
    size = images.shape[1] if images is not None else max(
        get_backbone(backbone).min_size, image_size or (256 if fmt == "onnx" else 64))
    base = get_backbone(backbone).build(size, weights=resolved.weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        with written_beside(out) as partial:
            base.save_weights(partial)
        return None
    if images is None:
        images = np.random.default_rng(0).integers(0, 256, (8, size, size, 3)).astype("uint8")
    if fmt == "onnx":
        return _write_onnx(base, backbone, images, input_mode(source, backbone, "native"), out,
                           tolerance)
    import torch

    state = EXPORTERS[backbone].mapping(base)
    check = verify(base, backbone, state, images, input_mode(source, backbone, "native"), fmt)
    if not check.relative <= tolerance:
        raise ConfigError(f"weights export {source} {backbone}: the {fmt} features differ "
                          f"from Keras' by {check.max_abs_difference:.3g} ({check.relative:.2g} "
                          f"of their scale {check.feature_scale:.3g}), above the tolerance "
                          f"{tolerance:g}; nothing written")
    if fmt == "torchscript":
        return _write_torchscript(base, backbone, state, images, source, out, tolerance, check)
    with written_beside(out) as partial:
        torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, partial)
    return check


def _write_onnx(base, backbone: str, images: np.ndarray, mode: str, out: Path,
                tolerance: float) -> ExportCheck:
    import keras

    from radbench.models.onnx_export import write_onnx
    from radbench.models.preprocess import ChannelNormalization

    pixels = keras.ops.convert_to_numpy(ChannelNormalization(mode)(images.astype("float32")))
    expected = np.asarray(base.predict(pixels, verbose=0), dtype=np.float64)
    difference, scale = write_onnx(base, backbone, pixels, expected, out, tolerance)
    return ExportCheck(len(images), difference, scale)


def _write_torchscript(base, backbone: str, state: dict, images: np.ndarray, source: str,
                       out: Path, tolerance: float, check: ExportCheck) -> ExportCheck:
    """Trace the checked torch model (its strides and head included) and write it as a
    TorchScript file that `torch.jit.load` opens without radbench; the traced module is run
    on the check's images again and must agree with Keras as the model did."""
    import keras
    import torch

    from radbench.atomic import written_beside
    from radbench.models.preprocess import ChannelNormalization
    from radbench.models.sources import input_mode

    model = torch_model(backbone, state, "torchscript")
    pixels = keras.ops.convert_to_numpy(ChannelNormalization(
        input_mode(source, backbone, "native"))(images.astype("float32")))
    example = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        traced = torch.jit.trace(model, example[:1])
        got = traced(example).numpy()
    expected = np.asarray(base.predict(pixels, verbose=0), dtype=np.float64)
    difference = float(np.max(np.abs(got - expected)))
    if not difference / max(check.feature_scale, 1e-12) <= tolerance:
        raise ConfigError(f"weights export {source} {backbone}: the traced TorchScript "
                          f"features differ from Keras' by {difference:.3g}, above the "
                          f"tolerance {tolerance:g}; nothing written")
    with written_beside(out) as partial:
        torch.jit.save(traced, str(partial))
    return ExportCheck(check.images, max(difference, check.max_abs_difference),
                       check.feature_scale)
