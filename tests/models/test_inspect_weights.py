"""`radbench weights inspect`: planted extreme BatchNorm statistics are flagged, and the images'
statistics at a BatchNorm layer are what numpy computes from that layer's input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.xdist_group("inspect_weights")  # its module fixture, built once


@pytest.fixture(scope="session")  # with its xdist_group: built once per test run
def planted(tmp_path_factory):
    """DenseNet121 weights with RadImageNet #20's symptom planted: one BatchNorm layer of the
    last dense block (conv5_block13_0_bn, torchvision's denseblock4.denselayer13.norm1) with
    moving variances up to 56,000."""
    import keras

    from radbench.models.backbones import get_backbone

    keras.utils.set_random_seed(0)
    base = get_backbone("DenseNet121").build(32)
    layer = base.get_layer("conv5_block13_0_bn")
    variance = np.full(layer.moving_variance.shape, 3800.0, "float32")
    variance[::7] = 56000.0
    layer.moving_variance.assign(variance)
    path = tmp_path_factory.mktemp("w") / "planted.weights.h5"
    base.save_weights(path)
    return path


@pytest.mark.slow  # a DenseNet121 file written and inspected
def test_planted_extreme_variances_are_flagged(planted):
    done = run_cli("weights", "inspect", f"file:{planted}", "--backbone", "DenseNet121",
                   "--json")
    assert done.returncode == 1, done.stderr[-2000:]  # flagged: exit 1
    report = json.loads(done.stdout)
    assert report["flagged"] == ["conv5_block13_0_bn"]
    (layer,) = [x for x in report["layers"] if x["name"] == "conv5_block13_0_bn"]
    assert layer["var_max"] == pytest.approx(56000.0)
    assert layer["var_median"] == pytest.approx(3800.0)
    assert "extreme variance: max 56,000" in layer["flags"][0]
    assert report["input_mode"] == "torch" and len(report["sha256"]) == 64
    text = run_cli("weights", "inspect", f"file:{planted}", "--backbone", "DenseNet121")
    assert f"conv5_block13_0_bn: {layer['channels']} channels" in text.stdout
    assert layer["channels"] == 512 + 12 * 32 and "FLAGGED: extreme variance" in text.stdout
    assert "121 BatchNorm layer(s), 1 flagged" in text.stdout


def test_non_finite_and_negative_statistics_are_flagged():
    import keras

    from radbench.models.inspect_weights import flag_extremes, layer_stats

    layer = keras.layers.BatchNormalization()
    layer.build((None, 4))
    layer.moving_variance.assign(np.array([1.0, -2.0, 1.0, np.inf], "float32"))
    stats = layer_stats(layer)
    assert stats.flags == ["non-finite statistics", "negative variance (1 channel(s))"]
    flag_extremes([stats])
    assert len(stats.flags) == 2


def test_image_statistics_match_numpy_at_the_layer_input():
    """data_shift and data_var_ratio of the first BatchNorm layer, recomputed by hand from the
    convolution that feeds it."""
    import keras

    from radbench.models.backbones import get_backbone
    from radbench.models.inspect_weights import batchnorm_layers, data_statistics, layer_stats
    from radbench.models.preprocess import ChannelNormalization

    keras.utils.set_random_seed(1)
    base = get_backbone("ResNet50").build(32)
    layers = batchnorm_layers(base)
    first = layers[0]
    first.moving_mean.assign(np.linspace(-1, 1, first.moving_mean.shape[0]).astype("float32"))
    first.moving_variance.assign(np.linspace(0.5, 4, first.moving_mean.shape[0]).astype("float32"))
    images = np.random.default_rng(0).integers(0, 255, (10, 32, 32, 3)).astype("uint8")
    stats = [layer_stats(layer) for layer in layers]
    data_statistics(base, layers, images, "caffe", stats, batch=4)
    feed = keras.Model(base.inputs, first.input)
    x = feed.predict(keras.ops.convert_to_numpy(ChannelNormalization("caffe")(
        images.astype("float32"))), verbose=0).reshape(-1, first.moving_mean.shape[0])
    mu, var = x.mean(0), x.var(0)
    stored_mu = np.linspace(-1, 1, mu.size)
    stored_var = np.linspace(0.5, 4, mu.size)
    expected_shift = np.mean(np.abs(mu - stored_mu) / np.sqrt(stored_var + first.epsilon))
    assert stats[0].data_shift == pytest.approx(expected_shift, rel=1e-4)
    assert stats[0].data_var_ratio == pytest.approx(np.median(var / stored_var), rel=1e-4)
