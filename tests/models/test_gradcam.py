"""Grad-CAM's closed form equals Grad-CAM by automatic differentiation; localization metrics."""

from __future__ import annotations

import numpy as np
import pytest

from radbench.config.schema import Training
from radbench.models.gradcam import feature_model, gradcam, localization_scores


def test_closed_form_equals_autodiff_gradcam():
    import keras

    from radbench.models.build import build_classifier

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference gradient uses TensorFlow's GradientTape")
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model, _ = build_classifier("MobileNetV3Small", Training(image_size=96), "unfreezeall", None, 0)
    from radbench.train.batchnorm import calibrate_batchnorm

    images = np.random.default_rng(0).integers(0, 255, (3, 96, 96, 3)).astype("float32")
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    calibrate_batchnorm(model, base, [(images, None)], 1)  # untrained statistics zero the maps
    dense = model.get_layer("head_dense")
    kernel, bias = dense.get_weights()
    dense.set_weights([np.abs(kernel), bias])  # a class logit that rises with the features
    ours = gradcam(model, "MobileNetV3Small", images)
    features_model = feature_model(model, "MobileNetV3Small")
    with tf.GradientTape() as tape:
        features, _ = features_model(images)
        tape.watch(features)
        pooled = tf.reduce_mean(features, axis=(1, 2))
        logits = tf.matmul(pooled, dense.kernel) + dense.bias  # pre-softmax class scores
        score = logits[:, 1]
    grads = tape.gradient(score, features).numpy()
    alphas = grads.mean(axis=(1, 2))  # Grad-CAM: spatially averaged gradients
    maps = np.maximum(np.einsum("nhwk,nk->nhw", features.numpy(), alphas), 0)
    reference = keras.ops.convert_to_numpy(keras.ops.image.resize(
        maps[..., None], (96, 96), interpolation="bilinear"))[..., 0]
    reference /= reference.reshape(3, -1).max(axis=1)[:, None, None]
    assert reference.max() == pytest.approx(1.0) and ours.std() > 0.01
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_localization_scores():
    mask = np.zeros((10, 10), np.uint8)
    mask[2:6, 2:6] = 1  # 16 pixels
    cam = np.zeros((10, 10))
    cam[2:6, 2:4] = 1.0  # 8 pixels inside
    cam[8, 8] = 0.4  # below half the maximum
    scores = localization_scores(cam, mask)
    assert scores["dice"] == pytest.approx(2 * 8 / (8 + 16))
    assert scores["iou"] == pytest.approx(8 / 16) and scores["pointing_hit"]
    cam[9, 9] = 2.0  # the maximum now outside the lesion
    assert not localization_scores(cam, mask)["pointing_hit"]
