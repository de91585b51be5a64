"""BatchNorm statistics that follow the weights (`batchnorm_calibration`, `batchnorm_momentum`):
a scratch cell whose moving statistics stayed at their initial values gives every test image one
score; calibrated on the training images it ranks them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from radbench.config.schema import Training
from radbench.cellspec import Cell
from radbench.models.build import build_classifier
from radbench.train.batchnorm import batchnorm_layers, calibrate_batchnorm
from radbench.train.cell import fit_and_predict
from tests.train.test_cell import tiny_problem


def scratch_cell(**training) -> Cell:
    return Cell("t", "scratch", "MobileNetV3Small", "unfreezeall", 1e-3, 0, 0,
                Training(image_size=32, batch_size=8, epochs=2, **training))


@pytest.mark.slow  # in CI; the default suite's budget (5 min) is spent
def test_calibration_turns_a_degenerate_scratch_cell_into_an_informative_one(eager):
    from sklearn.metrics import roc_auc_score

    images, split = tiny_problem(n=48)
    test_y = split.loc[split["part"] == "test", "y"].to_numpy()
    paper = fit_and_predict(scratch_cell(), images, split, None, verbose=0)
    assert np.ptp(paper["test_scores"]) < 1e-4  # MobileNetV3's momentum 0.999: one score
    calibrated = fit_and_predict(scratch_cell(batchnorm_calibration=True), images, split, None,
                                 verbose=0)
    assert len(np.unique(np.round(calibrated["test_scores"], 6))) == len(test_y)
    assert roc_auc_score(test_y, calibrated["test_scores"]) > 0.5


def test_calibration_sets_frozen_layers_to_the_training_images_statistics():
    """Frozen BatchNorm layers (freezeall) get the data's statistics too, and stay frozen."""
    model, base = build_classifier("MobileNetV3Small", Training(image_size=32), "freezeall",
                                   None, 0)
    layer = batchnorm_layers(base)[0]
    x = np.random.default_rng(0).integers(0, 255, (16, 32, 32, 3)).astype(np.uint8)
    calibrate_batchnorm(model, base, [(x[:8],), (x[8:],)])
    assert not layer.trainable and not model.trainable_weights[:-2]
    features = keras.Model(base.input, layer.input)
    seen = keras.ops.convert_to_numpy(features(model.get_layer("normalization")(
        keras.ops.convert_to_tensor(x))))
    halves = [seen[:8].reshape(-1, seen.shape[-1]), seen[8:].reshape(-1, seen.shape[-1])]
    np.testing.assert_allclose(np.asarray(layer.moving_mean),
                               np.mean([h.mean(0) for h in halves], axis=0), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.moving_variance),
                               np.mean([h.var(0) for h in halves], axis=0), rtol=1e-3,
                               atol=1e-5)


@pytest.mark.parametrize("momentum", [None, 0.9])
def test_momentum_setting_reaches_every_batchnorm_layer(momentum):
    _, base = build_classifier("MobileNetV3Small", Training(image_size=32,
                                                            batchnorm_momentum=momentum),
                               "unfreezeall", None, 0)
    assert {layer.momentum for layer in batchnorm_layers(base)} == {momentum or 0.999}
