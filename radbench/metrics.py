"""Per-cell test metrics from stored scores: AUC (the primary one), and beside it accuracy,
balanced accuracy, sensitivity and specificity at a threshold chosen on the validation part
(Youden's J), the Brier score and the expected calibration error.

One registry (METRICS) owns each metric's name, label and direction; the report aggregates any
of them like the AUC (`radbench report --metric NAME`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ECE_BINS = 10


@dataclass(frozen=True)
class Metric:
    """A test metric: its display label, whether higher is better, whether it needs the
    validation-chosen threshold."""

    label: str
    higher_is_better: bool = True
    thresholded: bool = False


METRICS: dict[str, Metric] = {
    "auc": Metric("AUC"),
    "accuracy": Metric("accuracy", thresholded=True),
    "balanced_accuracy": Metric("balanced accuracy", thresholded=True),
    "sensitivity": Metric("sensitivity", thresholded=True),
    "specificity": Metric("specificity", thresholded=True),
    "brier": Metric("Brier score", higher_is_better=False),
    "ece": Metric(f"ECE ({ECE_BINS} bins)", higher_is_better=False),
}


def youden_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising sensitivity + specificity - 1 on (y, scores): a case is
    called positive when its score is >= the threshold (scikit-learn's roc_curve convention);
    the first (highest) threshold wins ties. NaN when `y` holds one class only."""
    from sklearn.metrics import roc_curve

    y, scores = np.asarray(y), np.asarray(scores, dtype=float)
    if len(np.unique(y)) < 2:
        return float("nan")
    fpr, tpr, thresholds = roc_curve(y, scores)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))  # roc_curve's first threshold is inf


def expected_calibration_error(y: np.ndarray, scores: np.ndarray, bins: int = ECE_BINS) -> float:
    """Binary ECE: over `bins` equal-width bins of the positive-class probability, the
    case-weighted mean |observed positive rate - mean predicted probability| (scikit-learn's
    calibration_curve per bin, so a score on a bin edge belongs to the lower bin; otherwise the
    quantity torchmetrics' BinaryCalibrationError computes with norm 'l1')."""
    from sklearn.calibration import calibration_curve

    y, scores = np.asarray(y), np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    observed, predicted = calibration_curve(y, scores, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], scores),  # calibration_curve's binning
                         minlength=bins)
    counts = counts[counts > 0]  # calibration_curve returns the non-empty bins, in order
    return float(np.sum(counts / len(y) * np.abs(observed - predicted)))


def evaluate(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric of METRICS on the test cases; the thresholded ones at `threshold` (chosen
    on validation; NaN when it is)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss, \
        recall_score, roc_auc_score

    y, scores = np.asarray(y).astype(int), np.asarray(scores, dtype=float)
    two_classes = len(np.unique(y)) == 2
    values = {
        "auc": float(roc_auc_score(y, scores)) if two_classes else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(scores, 0.0, 1.0))),
        "ece": expected_calibration_error(y, scores),
    }
    if np.isnan(threshold):
        values.update({name: float("nan") for name, m in METRICS.items() if m.thresholded})
    else:
        called = (scores >= threshold).astype(int)
        values.update({
            "accuracy": float(accuracy_score(y, called)),
            "balanced_accuracy": float(balanced_accuracy_score(y, called)) if two_classes
            else float("nan"),
            "sensitivity": float(recall_score(y, called, pos_label=1, zero_division=np.nan)),
            "specificity": float(recall_score(y, called, pos_label=0, zero_division=np.nan)),
        })
    return {name: values[name] for name in METRICS}


def cell_metrics(test: pd.DataFrame, val: pd.DataFrame | None) -> dict[str, float]:
    """The metrics of one cell from its stored predictions (columns y_true, y_score): the
    threshold from `val` (the validation part; None for cells stored without it), then every
    metric on `test`. Returns them with the threshold under 'threshold'."""
    threshold = youden_threshold(val["y_true"], val["y_score"]) if val is not None and len(val) \
        else float("nan")
    return {**evaluate(test["y_true"], test["y_score"], threshold), "threshold": threshold}
