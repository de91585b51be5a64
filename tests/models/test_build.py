"""Tiny real models: normalisation equals Keras' preprocess_input; freeze settings as the paper."""

import keras
import numpy as np
import pytest
from keras.applications import imagenet_utils

from radbench.config.schema import Training
from radbench.models.backbones import BACKBONES, get_backbone
from radbench.models.build import apply_freeze, build_classifier
from radbench.models.preprocess import ChannelNormalization

PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")


def test_paper_mode_is_caffe_then_divided_by_255():
    expected = imagenet_utils.preprocess_input(PIXELS.copy(), mode="caffe") / 255.0
    got = np.asarray(ChannelNormalization("paper")(PIXELS))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_the_readme_pytorch_recipe_is_paper_mode():
    """README's recipe for PyTorch users, channels first: flip RGB to BGR, subtract the caffe
    means, divide by 255 (numpy here: the same arithmetic as the torch lines)."""
    nchw = np.transpose(PIXELS, (0, 3, 1, 2)).astype("float32")
    recipe = (nchw[:, ::-1] - np.array([103.939, 116.779, 123.68]).reshape(1, 3, 1, 1)) / 255
    got = np.asarray(ChannelNormalization("paper")(PIXELS))
    np.testing.assert_allclose(np.transpose(recipe, (0, 2, 3, 1)), got, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_native_modes_match_keras(mode):
    expected = imagenet_utils.preprocess_input(PIXELS.copy(), mode=mode)
    np.testing.assert_allclose(np.asarray(ChannelNormalization(mode)(PIXELS)), expected,
                               rtol=1e-5, atol=1e-4)


def test_native_modes_of_the_paper_backbones():
    assert get_backbone("ResNet50").native_mode == "caffe"
    assert get_backbone("DenseNet121").native_mode == "torch"
    assert get_backbone("InceptionV3").native_mode == "tf"
    assert get_backbone("InceptionResNetV2").native_mode == "tf"


def test_unknown_backbone():
    from radbench.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown backbone 'VGG16'; expected one of .*ResNet50"):
        get_backbone("VGG16")


def small_training(**kw) -> Training:
    return Training.model_validate({"image_size": 32, "batch_size": 4, "epochs": 1, **kw})


def test_head_and_output():
    model, base = build_classifier("MobileNetV3Small", small_training(), "unfreezeall", None, 0)
    assert model.output_shape == (None, 2)
    assert base.layers[-1].__class__.__name__ == "GlobalAveragePooling2D"
    assert [l.name for l in model.layers[-2:]] == ["head_dropout", "head_dense"]
    assert model.get_layer("head_dense").activation.__name__ == "softmax"
    np.testing.assert_allclose(model.predict(PIXELS.repeat(4, 1).repeat(4, 2), verbose=0).sum(1),
                               1.0, rtol=1e-5)


def trainable_names(model):
    return {w.path for w in model.trainable_weights}


def test_freeze_settings_train_what_the_paper_trains():
    model, base = build_classifier("MobileNetV3Small", small_training(), "freezeall", None, 0)
    assert all(w.path.startswith("head_dense") for w in model.trainable_weights)
    model, base = build_classifier("MobileNetV3Small", small_training(), "unfreezetop10", None, 0)
    top10 = {w.path for layer in base.layers[-10:] for w in layer.trainable_weights}
    backbone_trainable = {w.path for w in base.trainable_weights}
    assert backbone_trainable == top10 and top10
    model, base = build_classifier("MobileNetV3Small", small_training(), "unfreezeall", None, 0)
    assert len(base.trainable_weights) > len(top10)
    with pytest.raises(ValueError, match="freeze"):
        apply_freeze(base, "unfreezetop5")


def test_frozen_batchnorm_runs_in_inference_mode():
    model, base = build_classifier("MobileNetV3Small", small_training(), "freezeall", None, 0)
    bn = next(l for l in base.layers if isinstance(l, keras.layers.BatchNormalization))
    before = np.asarray(bn.moving_mean).copy()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    x = np.random.default_rng(1).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[[0, 1] * 4]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    np.testing.assert_array_equal(np.asarray(bn.moving_mean), before)


def test_weights_file_source_loads_exactly(tmp_path):
    size = 32
    donor = get_backbone("MobileNetV3Small").build(size)
    path = tmp_path / "donor.weights.h5"
    donor.save_weights(path)
    model, base = build_classifier("MobileNetV3Small", small_training(), "freezeall", str(path), 0)
    for a, b in zip(donor.weights, base.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_every_registered_backbone_has_a_minimum_size():
    assert {b.min_size for b in BACKBONES.values()} <= {16, 32, 75}
    assert {name for name, b in BACKBONES.items() if b.min_size < 32} == {"ResNet50CIFAR"}


def test_cifar_resnet50_is_medmnists_model():
    """MedMNIST's 28-px ResNet-50 (kuangliu/pytorch-cifar) has 23,520,842 trainable parameters
    with a 10-class linear layer (2048 x 10 + 10): the body is 23,500,352, as here; 28 px keep
    a 4x4 map at the last stage (keras.applications.ResNet50 would be below 1x1)."""
    import keras

    base = get_backbone("ResNet50CIFAR").build(28)
    trainable = sum(int(np.prod(w.shape)) for w in base.trainable_weights)
    assert trainable == 23_520_842 - (2048 * 10 + 10)
    assert base.get_layer("conv5_block3_out").output.shape[1:] == (4, 4, 2048)
    assert base.output_shape == (None, 2048)
    keras.backend.clear_session()
