"""ImageNet and RadImageNet weight files: lookup, import of real Keras 2 files (written with
tf-keras), array-by-array equality in Keras 3, clear errors, status."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radbench.errors import ConfigError
from radbench.models import weights
from radbench.models.sources import resolve_source
from tests.conftest import run_cli

tf_keras = pytest.importorskip("tf_keras", reason="tf-keras (Keras 2) is needed to write Keras 2 "
                               "files; `make test` installs it")

ARCHS = {"ResNet50": ("ResNet50", 32), "DenseNet121": ("DenseNet121", 32),
         "InceptionV3": ("InceptionV3", 75), "IRV2": ("InceptionResNetV2", 75)}


@pytest.fixture(autouse=True)
def homes(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("RADBENCH_HOME", str(tmp_path / "radbench"))


def keras2_file(path, backbone: str, size: int, include_top: bool = False):
    """A Keras 2 (tf-keras) weights file with random values, and its layers' weights."""
    kwargs = {"classes": 2} if include_top else {"pooling": "avg"}
    model = getattr(tf_keras.applications, backbone)(include_top=include_top, weights=None,
                                                     input_shape=(size, size, 3), **kwargs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(path))
    # Layers in order (Keras 2 names some DenseNet layers 'conv1/conv' where Keras 3 says
    # 'conv1_conv'; legacy HDF5 weights load by layer order).
    return path, [layer.get_weights() for layer in model.layers if layer.get_weights()]


@pytest.mark.parametrize("arch", [
    "ResNet50",
    pytest.param("DenseNet121", marks=pytest.mark.slow),
    pytest.param("InceptionV3", marks=pytest.mark.slow),
    pytest.param("IRV2", marks=pytest.mark.slow),
])
def test_import_keras2_file_equal_array_by_array(tmp_path, arch):
    backbone, size = ARCHS[arch]
    source, saved = keras2_file(tmp_path / "dl" / f"RadImageNet-{arch}_notop.h5", backbone, size)
    stored = weights.import_radimagenet(tmp_path / "dl")
    assert [s["backbone"] for s in stored] == [backbone]
    resolved = resolve_source("radimagenet", backbone)
    assert resolved.sha256 == stored[0]["sha256"] and resolved.weights.endswith(
        f"RadImageNet-{arch}_notop.h5")
    from radbench.models.backbones import get_backbone

    model = get_backbone(backbone).build(size, weights=resolved.weights)
    loaded = [layer.get_weights() for layer in model.layers if layer.get_weights()]
    compared = 0
    for ours_layer, theirs_layer in zip(loaded, saved, strict=True):
        for ours, theirs in zip(ours_layer, theirs_layer, strict=True):
            np.testing.assert_array_equal(ours, theirs)
            compared += 1
    assert compared == len(model.get_weights()) > 100


def test_hyphenated_name_wrong_arch_truncated_and_full_model(tmp_path):
    keras2_file(tmp_path / "a" / "RadImageNet-ResNet50-notop.h5", "ResNet50", 32)
    assert weights.import_radimagenet(tmp_path / "a")[0]["backbone"] == "ResNet50"
    keras2_file(tmp_path / "b" / "RadImageNet-ResNet50_notop.h5", "DenseNet121", 32)
    with pytest.raises(ConfigError, match=r"does not load into Keras' ResNet50 .*another arch"):
        weights.import_radimagenet(tmp_path / "b")
    good, _ = keras2_file(tmp_path / "c" / "RadImageNet-ResNet50_notop.h5", "ResNet50", 32)
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ConfigError, match=r"not a readable HDF5 weights file \(truncated"):
        weights.import_radimagenet(tmp_path / "c")
    keras2_file(tmp_path / "d" / "RadImageNet-ResNet50_notop.h5", "ResNet50", 32, include_top=True)
    with pytest.raises(ConfigError, match=r"holds a full model with a classification top"):
        weights.import_radimagenet(tmp_path / "d")
    # none of the refused files replaced the good import
    path, digest = weights.radimagenet_file("ResNet50")
    assert weights.file_sha256(path) == digest


def test_imagenet_lookup_missing_damaged_and_found(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"ResNet50 weights .*resnet50_weights_tf_dim_ordering_"
                                          r"tf_kernels_notop.h5 not found; run `radbench weights "
                                          r"fetch imagenet --backbones ResNet50`"):
        resolve_source("imagenet", "ResNet50")
    from dataclasses import replace

    from radbench.models.backbones import BACKBONES

    entry = BACKBONES["ResNet50"].imagenet
    path, _ = keras2_file(tmp_path / "keras" / "models" / entry.file, "ResNet50", 32)
    with pytest.raises(ConfigError, match=r"has MD5 [0-9a-f]{32}, Keras publishes 4d473c1d"):
        resolve_source("imagenet", "ResNet50")
    monkeypatch.setitem(BACKBONES, "ResNet50", replace(
        BACKBONES["ResNet50"], imagenet=replace(entry, published_hash=weights.file_md5(path))))
    resolved = resolve_source("imagenet", "ResNet50")
    assert resolved.weights == str(path) and resolved.sha256 == weights.file_sha256(path)


def test_status_and_import_from_the_command_line(tmp_path):
    keras2_file(tmp_path / "dl" / "RadImageNet-ResNet50_notop.h5", "ResNet50", 32)
    imported = run_cli("weights", "import", "radimagenet", str(tmp_path / "dl"))
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr == ""  # no TensorFlow banner or library warning (issue 27)
    assert imported.stdout.startswith("ResNet50: ") and imported.stdout.count("\n") == 1
    status = run_cli("weights", "status", "--json")
    rows = {(r["source"], r["backbone"]): r for r in json.loads(status.stdout)}
    assert rows[("radimagenet", "ResNet50")]["state"] == "ok"
    assert rows[("radimagenet", "DenseNet121")]["state"] == "not imported"
    assert rows[("imagenet", "ResNet50")]["state"] == "missing"
    refused = run_cli("weights", "import", "radimagenet", str(tmp_path / "nothing"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    # what is missing comes with where to get it
    text = " ".join(run_cli("weights", "status").stdout.split())  # prose wraps at the width
    assert "https://github.com/BMEII-AI/RadImageNet" in text and "-IRV2_notop.h5" in text
    assert "radbench weights fetch imagenet" in text
    assert "BMEII-AI/RadImageNet" in run_cli("weights", "import", "--help").stdout


def test_keras_files_open_in_safe_mode(tmp_path):
    import keras

    from radbench.models.backbones import get_backbone

    backbone = get_backbone("MobileNetV3Small")
    saved = backbone.build(32)
    rng = np.random.default_rng(1)
    saved.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in saved.get_weights()])
    saved.save(tmp_path / "base.keras")
    wrapped = keras.Sequential([keras.Input((32, 32, 3)), saved, keras.layers.Dense(3)])
    wrapped.save(tmp_path / "classifier.keras")
    for name in ("base.keras", "classifier.keras"):
        source = resolve_source(f"file:{tmp_path / name}", "MobileNetV3Small")
        loaded = backbone.build(32, weights=source.weights)
        for ours, theirs in zip(loaded.get_weights(), saved.get_weights(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    unsafe = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    unsafe.save(tmp_path / "lambda.keras")
    with pytest.raises(ConfigError, match=r"lambda.keras: cannot open this .keras file in safe mode"):
        backbone.build(32, weights=str(tmp_path / "lambda.keras"))
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(ConfigError, match=r"does not match the notop"):
        backbone.build(32, weights=str(tmp_path / "other.keras"))


def test_a_failed_download_says_its_whole_root_cause():
    """Issue 28: offline, `weights fetch imagenet` ended with "… None -- [E" (Keras' message,
    cut at 160 characters). The root cause of the chain is said whole."""
    import urllib.error

    from radbench.models.weights import network_cause

    try:
        try:
            raise urllib.error.URLError(OSError(-2, "Name or service not known"))
        except urllib.error.URLError as inner:
            raise Exception("URL fetch failure on https://storage.googleapis.com/" + "x" * 150
                            + ": None -- [Errno -2] Name or service not known") from inner
    except Exception as exc:  # noqa: BLE001 - what Keras raises
        assert network_cause(exc) == "[Errno -2] Name or service not known"
    assert network_cause(TimeoutError("timed out")) == "timed out"
