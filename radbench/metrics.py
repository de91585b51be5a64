"""Per-cell test metrics from stored scores: AUC (the primary one), and beside it accuracy,
balanced accuracy, sensitivity and specificity at a threshold chosen on the validation part
(Youden's J), the Brier score and the expected calibration error.

One registry (METRICS) owns each metric: the function computing it, its label, which way is
better and whether it needs the validation-chosen threshold (as scikit-learn's scorers carry
their function and sign); the report aggregates any of them like the AUC
(`radbench report --metric NAME`, whose help comes from the registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from radbench.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

ECE_BINS = 10


@dataclass(frozen=True)
class Metric:
    """A test metric: `compute(y, values)` on the test cases, where values are the scores, or
    the calls at the validation threshold when `thresholded`; its label, its direction."""

    label: str
    compute: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    thresholded: bool = False


def _two_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if _two_classes(y) else float("nan")


def _accuracy(y: np.ndarray, called: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, called))


def _balanced_accuracy(y: np.ndarray, called: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, called)) if _two_classes(y) else float("nan")


def _recall_of(label: int) -> Callable[[np.ndarray, np.ndarray], float]:
    def recall(y: np.ndarray, called: np.ndarray) -> float:
        from sklearn.metrics import recall_score

        return float(recall_score(y, called, pos_label=label, zero_division=np.nan))

    return recall


def _brier(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(y, np.clip(scores, 0.0, 1.0)))


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


METRICS: Registry[Metric] = Registry("metric")
METRICS.register("auc", Metric("AUC", _auc))
METRICS.register("accuracy", Metric("accuracy", _accuracy, thresholded=True))
METRICS.register("balanced_accuracy", Metric("balanced accuracy", _balanced_accuracy,
                                             thresholded=True))
METRICS.register("sensitivity", Metric("sensitivity", _recall_of(1), thresholded=True))
METRICS.register("specificity", Metric("specificity", _recall_of(0), thresholded=True))
METRICS.register("brier", Metric("Brier score", _brier, higher_is_better=False))
METRICS.register("ece", Metric(f"ECE ({ECE_BINS} bins)", expected_calibration_error,
                               higher_is_better=False))


def metrics_help() -> str:
    """The metrics for a command's help: name, and which are at the threshold or lower-better."""
    def said(name: str, metric: Metric) -> str:
        notes = (["at the validation threshold"] if metric.thresholded else []) + \
            ([] if metric.higher_is_better else ["lower is better"])
        return name + (f" ({', '.join(notes)})" if notes else "")

    return ", ".join(said(name, metric) for name, metric in METRICS.items())


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


def evaluate(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric of METRICS on the test cases; the thresholded ones at `threshold` (chosen
    on validation; NaN when it is)."""
    y, scores = np.asarray(y).astype(int), np.asarray(scores, dtype=float)
    called = None if np.isnan(threshold) else (scores >= threshold).astype(int)
    values = {}
    for name, metric in METRICS.items():
        if not metric.thresholded:
            values[name] = metric.compute(y, scores)
        else:
            values[name] = float("nan") if called is None else metric.compute(y, called)
    return values


def scores_of(probabilities: np.ndarray) -> np.ndarray:
    """What a cell stores of its softmax output: the positive column (N,) for two classes,
    every column (N, C) for more."""
    probabilities = np.asarray(probabilities, dtype=float)
    return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities


SCORE_PREFIX = "score_"  # multi-class predictions.csv: one column per class, score_<name>


def score_matrix(frame: pd.DataFrame) -> np.ndarray | None:
    """The (N, C) class probabilities of a multi-class predictions frame (None for binary)."""
    columns = [c for c in frame.columns if str(c).startswith(SCORE_PREFIX)]
    return frame[columns].to_numpy(dtype=float) if columns and "y_score" not in frame else None


def auc_of(y: np.ndarray, probabilities: np.ndarray) -> float:
    """AUC of softmax outputs: the positive column's for two columns, the macro one-vs-rest AUC
    (scikit-learn) for more; NaN when `y` lacks a class."""
    from sklearn.metrics import roc_auc_score

    y, probabilities = np.asarray(y).astype(int), np.asarray(probabilities, dtype=float)
    columns = probabilities.shape[1]
    if len(np.unique(y)) < (2 if columns == 2 else columns):
        return float("nan")
    if columns == 2:
        return float(roc_auc_score(y, probabilities[:, 1]))
    return float(roc_auc_score(y, probabilities, multi_class="ovr", average="macro",
                               labels=list(range(columns))))


def multiclass_metrics(y: np.ndarray, probabilities: np.ndarray,
                       names: list[str] | None = None) -> dict[str, float]:
    """Macro one-vs-rest AUC, accuracy and balanced accuracy of the most probable class, and
    per class its one-vs-rest AUC (auc_<name>); the binary-only metrics are NaN."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    y, probabilities = np.asarray(y).astype(int), np.asarray(probabilities, dtype=float)
    called = probabilities.argmax(axis=1)
    values = {name: float("nan") for name in METRICS}
    values.update({"auc": auc_of(y, probabilities),
                   "accuracy": float(accuracy_score(y, called)),
                   "balanced_accuracy": float(balanced_accuracy_score(y, called))})
    names = names or [str(i) for i in range(probabilities.shape[1])]
    for index, name in enumerate(names):
        positive = (y == index).astype(int)
        values[f"auc_{name}"] = float(roc_auc_score(positive, probabilities[:, index])) \
            if 0 < positive.sum() < len(y) else float("nan")
    return values


def cell_metrics(test: pd.DataFrame, val: pd.DataFrame | None) -> dict[str, float]:
    """The metrics of one cell from its stored predictions (columns y_true, y_score): the
    threshold from `val` (the validation part; None for cells stored without it), then every
    metric on `test`. Returns them with the threshold under 'threshold'. A multi-class frame
    (score_<name> columns) gets `multiclass_metrics` and no threshold."""
    matrix = score_matrix(test)
    if matrix is not None:
        names = [c[len(SCORE_PREFIX):] for c in test.columns if str(c).startswith(SCORE_PREFIX)]
        return {**multiclass_metrics(test["y_true"], matrix, names), "threshold": float("nan")}
    threshold = youden_threshold(val["y_true"], val["y_score"]) if val is not None and len(val) \
        else float("nan")
    return {**evaluate(test["y_true"], test["y_score"], threshold), "threshold": threshold}
