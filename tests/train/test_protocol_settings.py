"""The settings an external protocol needs (MedMNIST v2's, scripts/reproduce_medmnist.py): a step
learning-rate schedule, the best epoch chosen on val AUC, no head dropout, [-1, 1] inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from radbench.config.schema import Training
from radbench.cellspec import Cell
from radbench.models.build import build_classifier
from radbench.train.cell import fit_and_predict, step_lr
from tests.train.test_cell import tiny_problem


def test_step_schedule_is_pytorch_multisteplr_at_half_and_three_quarters():
    # MultiStepLR(milestones=[50, 75], gamma=0.1), stepped once per epoch, over 100 epochs
    assert [step_lr(1e-3, 100, e) for e in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    # 30 epochs: milestones 15 and 23 (22.5 rounded up)
    assert [step_lr(1.0, 30, e) for e in (14, 15, 22, 23)] == pytest.approx([1, 0.1, 0.1, 0.01])
    assert step_lr(1.0, 1, 0) == 1.0


@pytest.mark.slow  # in CI; the default suite's budget (5 min) is spent
def test_a_cell_keeps_the_best_val_auc_epoch_under_its_step_schedule(eager):
    images, split = tiny_problem(n=48)
    cell = Cell("t", "scratch", "MobileNetV3Small", "unfreezeall", 1e-2, 0, 0, Training(
        image_size=32, batch_size=8, epochs=4, lr_schedule="step", select_on="val_auc",
        head_dropout=0.0, normalization="tf", batchnorm_calibration=True))
    outcome = fit_and_predict(cell, images, split, None, verbose=0)
    history = outcome["history"]
    assert history["learning_rate"].tolist() == pytest.approx([1e-2, 1e-2, 1e-3, 1e-4])
    best = int(np.argmax(history["val_auc"].to_numpy()))  # the first of equal maxima
    assert outcome["best_epoch"] == best + 1
    assert outcome["best_val_auc"] == pytest.approx(history["val_auc"].iloc[best])
    assert outcome["best_val_loss"] == pytest.approx(history["val_loss"].iloc[best])
    # the kept weights are that epoch's: their val AUC, recomputed, is the recorded one
    from radbench.train.batches import CachedBatches

    val = split[split["part"] == "val"]
    scores = outcome["model"].predict(CachedBatches(images, val["row"], None, 8), verbose=0)
    assert roc_auc_score(val["y"], scores[:, 1]) == pytest.approx(outcome["best_val_auc"])


def test_head_dropout_and_input_mode_are_settings():
    model, _ = build_classifier("MobileNetV3Small", Training(image_size=32, head_dropout=0.0,
                                                             normalization="tf"), "freezeall",
                                None, 0)
    assert model.get_layer("head_dropout").rate == 0.0
    pixels = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    assert model.get_layer("normalization")(pixels).numpy().ravel().tolist() == pytest.approx(
        [-1.0, 0.0, 1.0])
