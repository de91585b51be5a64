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
