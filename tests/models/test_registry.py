"""Every registered backbone through one harness (build, the paper's freeze settings, its
Grad-CAM layer, its weight-file metadata, a tiny fit): a new backbone is tested by being
registered. A backbone registered in a test appears in `grid show`, in `radbench weights
status` and passes the harness with no other edit.

Where each part runs (first-step tracing costs 20-80 s per model on TensorFlow here):
- the smoke backbone is built, frozen and fitted under the default backend in the default suite,
  the paper's four are built and frozen there, and fitted in the slow set (ResNet50 and
  InceptionV3 traced, DenseNet121 and InceptionResNetV2 step by step: the same ops untraced);
- every other backbone is built and frozen under the default backend in the slow set; the
  modern ones are built, frozen and fitted under JAX in one process there
  (`test_the_other_backbones_...`, jit-compiled: op-by-op JAX is slower than compiling here;
  DenseNet169, MobileNetV3Large and EfficientNetV2B0 built and frozen only: compiling their
  training steps took 107, 43 and 47 s here; the first two's layers are those of DenseNet121
  and MobileNetV3Small, fitted above and, under JAX, in tests/train/test_cell.py;
  EfficientNetV2B0's depthwise and squeeze-excitation blocks are MobileNetV3's kind),
  ResNet50CIFAR is fitted traced by the MedMNIST reproduction's bare-Keras reference
  (tests/test_end_to_end.py)."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from radbench.config.schema import Training
from radbench.models import BACKBONES, Backbone, WeightFile
from radbench.models.backbones import KERAS_APPLICATIONS
from radbench.models.build import FREEZE_SETTINGS, apply_freeze, build_classifier
from radbench.models.weights import weights_status


def check_backbone(name: str, fit: bool = True, traced: bool = True) -> None:
    """Build, the three freeze settings, Grad-CAM layer, weight metadata and (`fit`) one epoch of
    8 images, traced (a compiled graph) or step by step (`traced=False`: the same ops, without
    the 20-80 s of tracing a large model)."""
    entry = BACKBONES[name]
    size = max(entry.min_size, 32)
    training = Training(image_size=size, batch_size=4, epochs=1)
    model, base = build_classifier(name, training, "unfreezeall", None, 0)
    assert model.output_shape == (None, 2) and base.output_shape == (None, base.output_shape[1])
    assert base.count_params() / 1e6 == pytest.approx(entry.params_m, rel=0.01)  # the disk line
    with pytest.raises(ValueError, match="needs inputs of at least"):
        entry.build(entry.min_size - 1)
    trainable = {}
    for freeze in FREEZE_SETTINGS:  # the paper's three settings, on the same model
        apply_freeze(base, freeze)
        trainable[freeze] = {w.path for w in base.trainable_weights}
    top10 = {w.path for layer in base.layers[-10:] for w in layer.trainable_weights}
    assert trainable["freezeall"] == set() and trainable["unfreezetop10"] == top10
    assert top10 < trainable["unfreezeall"]
    if entry.gradcam_layer is not None:
        assert len(base.get_layer(entry.gradcam_layer).output.shape) == 4
    assert entry.native_mode in ("caffe", "tf", "torch")
    if entry.imagenet is not None:
        assert entry.imagenet.url.startswith("https://") and entry.imagenet.file.endswith(".h5")
        assert re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{64}", entry.imagenet.published_hash)
    if entry.radimagenet_arch is not None:
        assert entry.radimagenet_file == f"RadImageNet-{entry.radimagenet_arch}_notop.h5"
    if fit:
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                      run_eagerly=not traced)
        x = np.random.default_rng(0).uniform(0, 255, (8, size, size, 3)).astype("float32")
        y = np.eye(2, dtype="float32")[[0, 1] * 4]
        history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert model.predict(x, verbose=0).shape == (8, 2)
    keras.backend.clear_session()


SMOKE = "MobileNetV3Small"
PAPER = [name for name, entry in BACKBONES.items() if entry.paper]
OTHERS = [name for name in BACKBONES if name != SMOKE and name not in PAPER]
# fitted under the default backend by the MedMNIST reproduction's test (its grid's backbone)
CIFAR = "ResNet50CIFAR"


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=() if name == SMOKE else pytest.mark.slow)
    for name in [SMOKE, *PAPER]])
def test_the_smoke_and_paper_backbones_build_freeze_and_fit(name):
    check_backbone(name, traced=name in (SMOKE, "ResNet50", "InceptionV3"))


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=() if name in PAPER else pytest.mark.slow)
    for name in BACKBONES if name != SMOKE])
def test_every_registered_backbone_builds_and_freezes(name):
    """Under the default backend; the paper's four in the default suite."""
    check_backbone(name, fit=False)


def test_every_backbone_is_in_one_harness():
    assert sorted([SMOKE, *PAPER, *OTHERS]) == sorted(BACKBONES) and len(OTHERS) >= 6


def test_the_paper_backbones_are_flagged():
    assert [n for n, b in BACKBONES.items() if b.paper] == [
        "InceptionV3", "ResNet50", "DenseNet121", "InceptionResNetV2"]


def test_a_backbone_registered_in_one_entry_appears_everywhere(tmp_path, monkeypatch):
    from radbench.cli import app

    entry = Backbone("MobileNetV2", "MobileNetV2", 32, "tf", None, WeightFile(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        KERAS_APPLICATIONS + "mobilenet_v2/", "36e4ec2f3d5f2a1e9d8c7b6a5f4e3d2c"),
        params_m=2.26)
    monkeypatch.setitem(BACKBONES, entry.name, entry)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "g", "sources": ["scratch"], "backbones": ["MobileNetV2"], "folds": 1,
        "settings": [{"freeze": "unfreezeall", "lr": [1e-3]}], "overrides": {"image_size": 32}}))
    shown = CliRunner().invoke(app, ["grid", "show", str(grid), "--task", "demo", "--json"])
    assert shown.exit_code == 0, shown.output
    assert [c["backbone"] for c in json.loads(shown.stdout)] == ["MobileNetV2"]
    rows = {(r["source"], r["backbone"]): r["state"] for r in weights_status()}
    assert rows[("imagenet", "MobileNetV2")] == "missing"
    assert ("radimagenet", "MobileNetV2") not in rows
    check_backbone("MobileNetV2", fit=False)


@pytest.mark.slow
def test_the_other_backbones_build_freeze_and_fit_under_jax():
    """Issue 17: the modern backbones build and freeze under KERAS_BACKEND=jax, all in one
    process, and ResNet50V2 and ConvNeXtTiny train there (the others' compilation: see the
    module text)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    from tests.conftest import REPO

    modern = [name for name, entry in BACKBONES.items() if entry.modern]
    assert modern == ["ResNet50V2", "DenseNet169", "MobileNetV3Large", "EfficientNetV2B0",
                      "ConvNeXtTiny"]
    assert sorted([*modern, CIFAR]) == sorted(OTHERS)
    code = ("import keras; from tests.models.test_registry import check_backbone;"
            f"[check_backbone(n, fit=n in ('ResNet50V2', 'ConvNeXtTiny')) "
            f"for n in {modern!r}];"
            "assert keras.config.backend() == 'jax'; print('fitted', len(" + repr(modern) + "))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"fitted {len(modern)}" in done.stdout
