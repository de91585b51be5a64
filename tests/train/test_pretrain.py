"""`radbench pretrain` on a tiny two-part corpus: prefixed classes, held-out split, re-estimated
BatchNorm statistics, a weights file that works as a source, and resuming by epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radbench.config.corpus import CorpusConfig
from radbench.data.phantom import generate_corpus
from radbench.errors import ConfigError
from radbench.train.pretrain import load_corpus_data, part_roots, pretrain
from tests.conftest import run_cli
from tests.data import releases

pytestmark = pytest.mark.xdist_group("pretrain")  # its module fixture, built once


def corpus_config(**extra) -> CorpusConfig:
    return CorpusConfig.model_validate({
        "name": "tiny", "image_size": 32, "batch_size": 16, "epochs": 1, "val_fraction": 0.25,
        "calibration_batches": 4,
        "parts": [{"name": "us", "data": {"adapter": "folders"}},
                  {"name": "mn", "data": {"adapter": "medmnist", "target": "m.npz",
                                          "class_map": {"0": "a", "1": "b"}}}], **extra})


@pytest.fixture(scope="session")  # with its xdist_group: built once per test run
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    us = generate_corpus(base / "us", per_class=10, size=32)
    releases.medmnist(base / "mn" / "m.npz", counts=(20, 6, 6))
    return {"us": us, "mn": base / "mn"}


def test_corpus_classes_are_prefixed_and_held_out_by_stratum(roots, tmp_path):
    corpus = load_corpus_data(corpus_config(), roots, tmp_path / "cache")
    assert corpus.classes == ["mn:a", "mn:b", "us:calcified", "us:cyst", "us:no_lesion",
                              "us:oval_solid", "us:spiculated"]
    assert len(corpus.index) == 50 + 32
    val = corpus.index[corpus.index["split"] == "val"]
    assert 0.15 < len(val) / len(corpus.index) < 0.35 and val["y"].nunique() == 7
    assert corpus.arrays[0].shape[1:] == (32, 32, 3)


@pytest.mark.slow
def test_pretrain_writes_a_calibrated_source_and_resumes(roots, tmp_path):
    import keras

    from radbench.models.backbones import get_backbone
    from radbench.models.sources import resolve_source

    out = tmp_path / "w" / "tiny.weights.h5"
    lines: list[str] = []
    record = pretrain(corpus_config(), "MobileNetV3Small", out, roots, epochs=1,
                      cache_dir=tmp_path / "cache", log=lines.append, verbose=0)
    assert out.is_file() and record["epochs"] == 1 and len(record["history"]) == 1
    assert any(line.startswith("epoch 1/1: train accuracy") for line in lines)
    assert json.loads((tmp_path / "w" / "tiny.json").read_text())["sha256"] == record["sha256"]
    source = resolve_source(f"file:{out}", "MobileNetV3Small")
    assert source.sha256 == record["sha256"]
    base = get_backbone("MobileNetV3Small").build(32, weights=source.weights)
    norms = [layer for layer in base._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == record["batchnorm_layers_calibrated"] > 10
    # re-estimated statistics, not the initial zeros and ones
    assert all(np.abs(keras.ops.convert_to_numpy(n.moving_mean)).max() > 0 for n in norms)
    again: list[str] = []
    second = pretrain(corpus_config(), "MobileNetV3Small", out, roots, epochs=2,
                      cache_dir=tmp_path / "cache", log=again.append, verbose=0)
    assert any("resuming after epoch 1" in line for line in again)
    assert [h["epoch"] for h in second["history"]] == [1, 2]


def test_bad_output_name_and_roots(tmp_path):
    with pytest.raises(ConfigError, match=r"must end in .weights.h5"):
        pretrain(corpus_config(), "MobileNetV3Small", tmp_path / "x.h5", {})
    with pytest.raises(ConfigError, match=r"write --data NAME=PATH"):
        part_roots(corpus_config(), None, ["/somewhere"])
    with pytest.raises(ConfigError, match=r"no part 'zz'"):
        part_roots(corpus_config(), None, ["zz=/somewhere"])
    result = run_cli("pretrain", "phantom", "--backbone", "NoSuchNet", "--out",
                     str(tmp_path / "a.weights.h5"), "--data", str(tmp_path))
    assert result.returncode == 2 and "unknown backbone 'NoSuchNet'" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "a.weights.h5").exists()


def test_calibration_sets_batchnorm_statistics_to_the_data():
    """After one calibration batch a BatchNorm layer's moving mean and variance are that batch's
    statistics of its input (the initial 0 and 1 are gone, not merely nudged)."""
    import keras

    from radbench.config.schema import Training
    from radbench.models.build import build_classifier
    from radbench.train.batchnorm import calibrate_batchnorm

    model, base = build_classifier("MobileNetV3Small", Training(image_size=32), "unfreezeall",
                                   None, 0)
    norm = next(layer for layer in base._flatten_layers()
                if isinstance(layer, keras.layers.BatchNormalization))
    x = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    inputs = keras.Model(base.inputs, norm.input)(model.get_layer("normalization")(x))
    inputs = keras.ops.convert_to_numpy(inputs)
    calibrate_batchnorm(model, base, [(x, None)], 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_mean),
                               inputs.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_variance),
                               inputs.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5)
