"""radbench.metrics against hand-worked examples and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss, \
    roc_auc_score

from radbench.metrics import METRICS, cell_metrics, evaluate, expected_calibration_error, \
    youden_threshold


def test_ece_of_a_hand_worked_example():
    # bins of 0.1: [0, 0.1] holds 0.1 (no positive), (0.3, 0.4] holds 0.35 and 0.4 (one
    # positive), (0.7, 0.8] holds 0.8 (a positive):
    # 1/4 * 0.1 + 2/4 * |0.5 - 0.375| + 1/4 * 0.2 = 0.1375
    y = [0, 0, 1, 1]
    assert expected_calibration_error(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.1375)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def test_ece_matches_the_formula_on_random_scores():
    rng = np.random.default_rng(1)
    scores = rng.random(500)
    y = (rng.random(500) < scores ** 2).astype(int)  # over-confident scores
    bins = np.minimum((scores * 10).astype(int), 9)  # no score falls on an edge here
    expected = sum(np.sum(bins == b) / 500 * abs(y[bins == b].mean() - scores[bins == b].mean())
                   for b in range(10) if np.any(bins == b))
    assert expected_calibration_error(y, scores) == pytest.approx(expected)


def test_youden_threshold_maximises_sensitivity_plus_specificity():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
    threshold = youden_threshold(y, scores)
    assert threshold == 0.6  # calls 3 of 4 positives and no negative: J = 0.75
    best = max(np.mean(scores[y == 1] >= t) + np.mean(scores[y == 0] < t) - 1 for t in scores)
    assert np.mean(scores[y == 1] >= threshold) + np.mean(scores[y == 0] < threshold) - 1 == best
    assert np.isnan(youden_threshold([1, 1], [0.2, 0.3]))


def test_every_metric_against_scikit_learn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 60)
    scores = np.clip(y * 0.3 + rng.random(60) * 0.7, 0, 1)
    values = evaluate(y, scores, 0.5)
    called = scores >= 0.5
    assert list(values) == list(METRICS)
    assert values["auc"] == pytest.approx(roc_auc_score(y, scores))
    assert values["accuracy"] == pytest.approx(accuracy_score(y, called))
    assert values["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, called))
    assert values["sensitivity"] == pytest.approx(np.mean(called[y == 1]))
    assert values["specificity"] == pytest.approx(np.mean(~called[y == 0]))
    assert values["brier"] == pytest.approx(brier_score_loss(y, scores))
    assert np.isnan(evaluate(y, scores, float("nan"))["accuracy"])


def test_cell_metrics_take_the_threshold_from_validation():
    test = pd.DataFrame({"y_true": [0, 0, 1, 1], "y_score": [0.2, 0.55, 0.5, 0.9]})
    val = pd.DataFrame({"y_true": [0, 0, 1, 1], "y_score": [0.1, 0.3, 0.6, 0.8]})
    metrics = cell_metrics(test, val)
    assert metrics["threshold"] == 0.6
    assert metrics["accuracy"] == 0.75  # only 0.9 and none of the negatives are called
    assert np.isnan(cell_metrics(test, None)["balanced_accuracy"])
