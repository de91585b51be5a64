"""`normalization: native` gives each source what its weights were trained with."""

from __future__ import annotations

import json

import pytest

from radbench.models.sources import input_mode


@pytest.mark.parametrize("source,backbone,mode", [
    ("imagenet", "ResNet50", "caffe"), ("imagenet", "DenseNet121", "torch"),
    ("imagenet", "InceptionV3", "tf"), ("scratch", "DenseNet121", "torch"),
    ("radimagenet", "ResNet50", "paper"), ("radimagenet", "DenseNet121", "paper"),
    ("scratch", "ResNet50CIFAR", "tf"),
])
def test_native_follows_the_source(source, backbone, mode):
    assert input_mode(source, backbone, "native") == mode


def test_a_pretrained_file_uses_its_corpus_normalization(tmp_path):
    made = tmp_path / "made.weights.h5"
    made.write_bytes(b"")
    (tmp_path / "made.json").write_text(json.dumps({"normalization": "paper"}))
    assert input_mode(f"file:{made}", "DenseNet121", "native") == "paper"
    (tmp_path / "made.json").write_text(json.dumps({"normalization": "native"}))
    assert input_mode(f"file:{made}", "DenseNet121", "native") == "torch"
    foreign = tmp_path / "foreign.h5"
    foreign.write_bytes(b"")
    assert input_mode(f"file:{foreign}", "InceptionV3", "native") == "tf"


def test_paper_and_explicit_modes_apply_to_every_source():
    for source in ("imagenet", "radimagenet", "scratch", None):
        assert input_mode(source, "DenseNet121", "paper") == "paper"
        assert input_mode(source, "DenseNet121", "tf") == "tf"


def test_backbone_field_names_one_file_per_backbone(tmp_path):
    """`{backbone}` in a file: source: one source, each cell's backbone's own file, and a check
    before training that names the backbone whose file is missing."""
    from radbench.errors import ConfigError
    from radbench.ids import file_sha256
    from radbench.models.sources import check_source, normalize_source, resolve_source
    from tests.conftest import foreign_weights

    for backbone in ("ResNet50", "DenseNet121"):
        foreign_weights(tmp_path / f"rad-{backbone}.weights.h5")
    source = normalize_source(f"file:{tmp_path}/rad-{{backbone}}.weights.h5")
    assert source == f"file:{tmp_path}/rad-{{backbone}}.weights.h5"
    check_source(source, ["ResNet50", "DenseNet121"])
    resolved = resolve_source(source, "DenseNet121")
    assert resolved.name == source
    assert resolved.weights == str((tmp_path / "rad-DenseNet121.weights.h5").resolve())
    assert resolved.sha256 == file_sha256(tmp_path / "rad-DenseNet121.weights.h5")
    with pytest.raises(ConfigError, match=r"rad-InceptionV3\.weights\.h5 for backbone "
                                          r"InceptionV3 not found"):
        check_source(source, ["ResNet50", "InceptionV3"])
