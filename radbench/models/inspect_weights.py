"""`radbench weights inspect`: a backbone's starting weights looked at before they are trusted.

Per BatchNorm layer: the stored moving mean and variance (ranges), flagged where they are not
finite, negative, or extreme against the rest of the network (BMEII-AI/RadImageNet #20: a
DenseNet121 `running_var` up to ~56,000 gave extreme logits); the input preprocessing the
weights expect, in words and numbers; the file's SHA-256. With images, the activation statistics
of those images at each BatchNorm layer beside the stored ones: how far the target data sit from
the pretraining statistics (the quantity behind the BatchNorm question of the bn-check grid).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: a layer's largest moving variance this many times the network's median (over layers of
#: their median variance) is flagged as extreme
EXTREME_FACTOR = 1000.0

PREPROCESSING = {
    "paper": "RGB to BGR, subtract the ImageNet means (B 103.939, G 116.779, R 123.68) from "
             "0-255 pixels, then multiply by 1/255 (the RadImageNet scripts: "
             "preprocess_input(caffe) then ImageDataGenerator(rescale=1/255)); grey images "
             "replicated to three channels",
    "caffe": "RGB to BGR, subtract the ImageNet means (B 103.939, G 116.779, R 123.68) from "
             "0-255 pixels, no scaling",
    "tf": "scale 0-255 pixels to [-1, 1]: x / 127.5 - 1",
    "torch": "scale to [0, 1], subtract (0.485, 0.456, 0.406), divide by (0.229, 0.224, 0.225)",
}


@dataclass
class LayerStats:
    """One BatchNorm layer's stored statistics (and, with images, the images' own)."""

    name: str
    channels: int
    mean_min: float
    mean_max: float
    var_min: float
    var_median: float
    var_max: float
    flags: list[str] = field(default_factory=list)
    data_shift: float | None = None  # mean over channels of |mu_data - mu| / sqrt(var + eps)
    data_var_ratio: float | None = None  # median over channels of var_data / var


@dataclass
class WeightsReport:
    source: str
    backbone: str
    weights: str | None
    sha256: str | None
    input_mode: str
    preprocessing: str
    layers: list[LayerStats]
    images: int = 0

    @property
    def flagged(self) -> list[LayerStats]:
        return [layer for layer in self.layers if layer.flags]

    def to_dict(self) -> dict:
        return {**asdict(self), "flagged": [layer.name for layer in self.flagged]}


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of `model`, nested models included, in order."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(batchnorm_layers(layer))
    return found


def layer_stats(layer) -> LayerStats:
    """The stored statistics of one BatchNorm layer, with flags for values that cannot be right
    on their own (non-finite, negative variance)."""
    import keras

    mean = np.asarray(keras.ops.convert_to_numpy(layer.moving_mean), dtype=np.float64)
    var = np.asarray(keras.ops.convert_to_numpy(layer.moving_variance), dtype=np.float64)
    flags = []
    if not (np.isfinite(mean).all() and np.isfinite(var).all()):
        flags.append("non-finite statistics")
    if (var < 0).any():
        flags.append(f"negative variance ({int((var < 0).sum())} channel(s))")
    finite = var[np.isfinite(var)] if np.isfinite(var).any() else np.zeros(1)
    return LayerStats(layer.name, int(var.size), float(np.nanmin(mean)), float(np.nanmax(mean)),
                      float(finite.min()), float(np.median(finite)), float(finite.max()), flags)


def flag_extremes(layers: list[LayerStats], factor: float = EXTREME_FACTOR) -> None:
    """Flag each layer whose largest variance is `factor` times the network's typical one."""
    typical = float(np.median([layer.var_median for layer in layers])) if layers else 0.0
    if typical <= 0:
        return
    for layer in layers:
        if layer.var_max > factor * typical:
            layer.flags.append(f"extreme variance: max {layer.var_max:,.0f}, "
                               f"{layer.var_max / typical:,.0f}x the network's median "
                               f"{typical:.3g}")


def data_statistics(base, layers: list, images: np.ndarray, mode: str,
                    stats: list[LayerStats], batch: int = 16) -> None:
    """The images' per-channel mean and variance at the input of each BatchNorm layer (the
    backbone in inference mode, the preprocessing the weights expect), beside the stored ones:
    `data_shift` (mean |mu_data - mu| in stored standard deviations) and `data_var_ratio`
    (median var_data / var)."""
    import keras

    from radbench.models.preprocess import ChannelNormalization

    probe = keras.Model(base.inputs, [layer.input for layer in layers])
    normalise = ChannelNormalization(mode)

    sums = [0.0] * len(layers)
    squares = [0.0] * len(layers)
    counts = [0] * len(layers)
    for start in range(0, len(images), batch):
        chunk = keras.ops.convert_to_numpy(normalise(np.asarray(images[start:start + batch],
                                                                dtype="float32")))
        outputs = probe.predict(chunk, verbose=0)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for i, output in enumerate(outputs):
            flat = np.asarray(output, dtype=np.float64).reshape(-1, output.shape[-1])
            sums[i] = sums[i] + flat.sum(0)
            squares[i] = squares[i] + (flat ** 2).sum(0)
            counts[i] += flat.shape[0]
    for i, (layer, stat) in enumerate(zip(layers, stats)):
        mu = sums[i] / counts[i]
        var = np.maximum(squares[i] / counts[i] - mu ** 2, 0.0)
        stored_mean = np.asarray(keras.ops.convert_to_numpy(layer.moving_mean), np.float64)
        stored_var = np.asarray(keras.ops.convert_to_numpy(layer.moving_variance), np.float64)
        scale = np.sqrt(np.maximum(stored_var, 0) + layer.epsilon)
        stat.data_shift = float(np.mean(np.abs(mu - stored_mean) / scale))
        stat.data_var_ratio = float(np.median(var / np.maximum(stored_var, layer.epsilon)))


def inspect_weights(source: str, backbone: str, images: np.ndarray | None = None,
                    factor: float = EXTREME_FACTOR) -> WeightsReport:
    """Load `source`'s weights for `backbone` and describe them (see the module docstring)."""
    from radbench.models.backbones import get_backbone
    from radbench.models.sources import check_source, input_mode, resolve_source
    from radbench.quiet import import_backend_quietly

    spec = get_backbone(backbone)
    check_source(source, [backbone])
    import_backend_quietly()
    resolved = resolve_source(source, backbone)
    size = images.shape[1] if images is not None else max(spec.min_size, 64)
    base = spec.build(size, weights=resolved.weights)
    layers = batchnorm_layers(base)
    stats = [layer_stats(layer) for layer in layers]
    flag_extremes(stats, factor)
    mode = input_mode(source, backbone, "native")
    report = WeightsReport(source, backbone, resolved.weights, resolved.sha256, mode,
                           PREPROCESSING[mode], stats)
    if images is not None and len(images) and layers:
        data_statistics(base, layers, images, mode, stats)
        report.images = len(images)
    return report

