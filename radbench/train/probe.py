"""Probe cells (`freeze: probe` or `knn`): the frozen backbone's pooled features, computed once
per image cache x backbone x starting weights x input normalisation and stored beside the image
cache, then scikit-learn on them: logistic regression (C chosen on validation AUC) or k nearest
neighbours (k chosen on validation AUC). One forward pass per image instead of epochs of
training; later cells (other folds, seeds, the other probe) reuse the stored features.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radbench.cellspec import Cell
from radbench.ids import stable_hash
from radbench.atomic import make_temporary_dir

C_VALUES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # logistic regression's inverse regularisation
K_VALUES = (1, 3, 5, 11, 21, 51)  # kNN's neighbour counts (those below the train size)
BATCH = 64
FEATURES_FORMAT = 1


def features_key(cell: Cell, weights_sha256: str | None) -> str:
    """What the stored features depend on: backbone, its starting weights (a scratch backbone's
    come from the seed), the input normalisation, the image size."""
    from radbench.models.sources import input_mode

    return stable_hash({"backbone": cell.backbone, "weights": weights_sha256,
                        "seed": cell.seed if weights_sha256 is None else None,
                        "mode": input_mode(cell.source, cell.backbone,
                                           cell.training.normalization),
                        "size": cell.training.image_size, "format": FEATURES_FORMAT}, 16)


def extract_features(cell: Cell, images: np.ndarray, weights: str | None) -> np.ndarray:
    """(N, D) float32 pooled features of every image, inference mode, no augmentation."""
    import keras

    from radbench.models.backbones import get_backbone
    from radbench.models.preprocess import ChannelNormalization
    from radbench.models.sources import input_mode

    keras.utils.set_random_seed(cell.seed)
    size = cell.training.image_size
    pixels = keras.Input((size, size, 3))
    mode = input_mode(cell.source, cell.backbone, cell.training.normalization)
    base = get_backbone(cell.backbone).build(size, weights=weights)
    model = keras.Model(pixels, base(ChannelNormalization(mode)(pixels)))
    parts = [np.asarray(model.predict(np.asarray(images[i:i + BATCH]), verbose=0))
             for i in range(0, len(images), BATCH)]
    return np.concatenate(parts).astype("float32")


def stored_features(cell: Cell, cache_dir: Path, images: np.ndarray, weights: str | None,
                    weights_sha256: str | None) -> tuple[np.ndarray, bool]:
    """The features of every cached image, from CACHE/features/<key>.npy when another cell
    computed them, else computed now and stored (written beside, then renamed). Returns
    (features, reused)."""
    folder = Path(cache_dir) / "features"
    target = folder / f"{features_key(cell, weights_sha256)}.npy"
    if target.is_file():
        try:
            features = np.load(target)
        except (OSError, ValueError, EOFError):  # damaged (cut short): computed again below
            features = None
        if features is not None and features.ndim == 2 and len(features) == len(images) \
                and np.isfinite(features).all():
            return features, True
    features = extract_features(cell, images, weights)
    folder.mkdir(parents=True, exist_ok=True)
    scratch = make_temporary_dir(".features-", folder)
    try:
        np.save(scratch / "features.npy", features)
        os.replace(scratch / "features.npy", target)
    finally:
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()
    return features, False


def _estimator(kind: str, value: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "probe":
        final = LogisticRegression(C=value, max_iter=2000, random_state=seed)
    else:
        final = KNeighborsClassifier(n_neighbors=int(value), metric="cosine")
    return make_pipeline(StandardScaler(), final)


def _all_columns(model, x: np.ndarray, classes: int) -> np.ndarray:
    """predict_proba with a column for every class, also one the training part lacked."""
    probabilities = np.zeros((len(x), classes))
    probabilities[:, model.classes_.astype(int)] = model.predict_proba(x)
    return probabilities


def fit_probe(cell: Cell, features: np.ndarray, split: pd.DataFrame,
              classes: int = 2) -> dict[str, Any]:
    """Fit on the train rows for every candidate C (probe) or k (knn), keep the one with the
    best validation AUC (ties: the first, i.e. the strongest regularisation or fewest
    neighbours), score validation and test. Returns what fit_and_predict returns."""
    from sklearn.metrics import log_loss

    from radbench.metrics import auc_of, scores_of

    def part(name: str) -> pd.DataFrame:
        return split[split["part"] == name]

    train, val, test = part("train"), part("val"), part("test")
    x = {name: features[rows["row"].to_numpy()] for name, rows in
         (("train", train), ("val", val), ("test", test))}
    candidates = C_VALUES if cell.freeze == "probe" else [k for k in K_VALUES if k <= len(train)]
    started = time.perf_counter()
    history, best = [], None
    for index, value in enumerate(candidates, start=1):
        model = _estimator(cell.freeze, value, cell.seed).fit(x["train"], train["y"])
        probabilities = _all_columns(model, x["val"], classes)
        val_auc = auc_of(val["y"], probabilities)
        val_loss = float(log_loss(val["y"], probabilities, labels=list(range(classes))))
        history.append({"epoch": index, "C" if cell.freeze == "probe" else "k": value,
                        "val_auc": val_auc, "val_loss": val_loss})
        if best is None or (not np.isnan(val_auc) and val_auc > best[1]):
            best = (index, -1.0 if np.isnan(val_auc) else val_auc, val_loss, model,
                    scores_of(probabilities))
    index, val_auc, val_loss, model, val_scores = best
    fitted = time.perf_counter()
    return {
        "history": pd.DataFrame(history),
        "test_scores": scores_of(_all_columns(model, x["test"], classes)),
        "val_scores": np.asarray(val_scores, dtype=float),
        "best_epoch": index,
        "best_val_loss": val_loss,
        "best_val_auc": val_auc,
        "timings": {"fit_s": fitted - started},
        "n": {"train": len(train), "val": len(val), "test": len(test)},
        "model": None,
    }


def run_probe(cell: Cell, images: np.ndarray, split: pd.DataFrame, cache_dir: Path,
              weights: str | None, weights_sha256: str | None,
              classes: int = 2) -> dict[str, Any]:
    """Features (stored or computed now), then the probe; timings say which."""
    started = time.perf_counter()
    features, reused = stored_features(cell, cache_dir, images, weights, weights_sha256)
    extracted = time.perf_counter()
    outcome = fit_probe(cell, features, split, classes)
    epoch = outcome["timings"]["fit_s"]
    outcome["timings"] = {"build_s": 0.0, "features_s": extracted - started,
                          "features_reused": reused, "fit_s": epoch, "first_epoch_s": epoch,
                          "later_epoch_s": None, "predict_s": 0.0,
                          "train_images_per_s": None, "reused_model": reused}
    return outcome
