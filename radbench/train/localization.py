"""Grad-CAM lesion localization per cell (tasks with masks): Dice, IoU and the pointing game of
each test image with a lesion, stored in the cell directory as localization.csv.

`radbench run` computes it as each cell finishes (the cell keeps its weights, model.weights.h5),
which is why it lives with training; the report reads what it stored;
`radbench cam DIR` computes it for a finished run, skipping cells already done at that threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from radbench.data.decode import load_mask
from radbench.models.gradcam import gradcam, localization_scores
from radbench.store import CellDir, CellState, RunDir


def lesion_masks(cell_dir: CellDir, case_ids: list[str], size: int) -> dict[str, np.ndarray]:
    """The union mask of each case that has one, at the cache's size (from the run's manifest)."""
    config = cell_dir.config()
    manifest = cell_dir.data().manifest()
    masks = dict(zip(manifest["case_id"], manifest["masks"]))
    root = Path(config.data.root)
    return {case: load_mask([root / m for m in masks[case].split(";")], size)
            for case in case_ids if masks.get(case)}


def localize(cell_dir: CellDir, model, images: np.ndarray, split: pd.DataFrame,
             threshold: float = 0.5) -> dict:
    """Grad-CAM on the cell's test images with a lesion; writes localization.csv and returns the
    cell's means (also stored in localization.json)."""
    cell = cell_dir.config().cell
    test = split[split["part"] == "test"]
    masks = lesion_masks(cell_dir, test["case_id"].tolist(), images.shape[1])
    with_lesion = test[test["case_id"].isin(masks)]
    rows = []
    if len(with_lesion):
        maps = gradcam(model, cell.backbone, np.asarray(images[with_lesion["row"].to_numpy()]))
        for case, y, cam in zip(with_lesion["case_id"], with_lesion["y"], maps):
            rows.append({"case_id": case, "y_true": int(y),
                         **localization_scores(cam, masks[case], threshold)})
    frame = pd.DataFrame(rows, columns=["case_id", "y_true", "dice", "iou", "pointing_hit"])
    summary = {"threshold": threshold, "n": len(frame),
               "dice": float(frame["dice"].mean()) if len(frame) else None,
               "iou": float(frame["iou"].mean()) if len(frame) else None,
               "pointing": float(frame["pointing_hit"].mean()) if len(frame) else None}
    cell_dir.write_localization(frame, summary)
    return summary


def run_cam(out: Path, threshold: float = 0.5, log: Callable[[str], None] = print) -> dict:
    """Localization for every finished cell of a task with masks that lacks it (resumable)."""
    from radbench.errors import ConfigError
    from radbench.quiet import import_backend_quietly

    if not RunDir(out).cells_root.is_dir():
        raise ConfigError(f"{out}: not a run directory (no cells/ folder); expected a directory "
                          f"written by `radbench run`")

    import_backend_quietly()
    import keras

    from radbench.data.cache import ImageCache
    from radbench.models.build import build_classifier

    from radbench.models.backbones import get_backbone

    counts = {"done_now": 0, "already": 0, "no_weights": 0, "no_masks": 0, "no_gradcam": 0}
    for cell_dir in RunDir(out).cells():
        config = cell_dir.config()
        task = config.task
        done = cell_dir.stored_state() == CellState.DONE
        if not done or not task.has_masks:
            counts["no_masks"] += int(done)
            continue
        if not get_backbone(config.cell.backbone).gradcam:
            counts["no_gradcam"] += 1  # its pooled features are normalised: no closed form
            continue
        stored = cell_dir.localization_summary()
        if stored is not None and stored.get("threshold") == threshold:
            counts["already"] += 1
            continue
        if not cell_dir.weights_file.is_file():
            counts["no_weights"] += 1
            continue
        cell = config.cell
        model, _ = build_classifier(cell.backbone, cell.training, cell.freeze, None, cell.seed,
                                    source=cell.source)
        model.load_weights(cell_dir.weights_file)
        split = cell_dir.split()
        images = ImageCache(Path(config.data.cache_dir)).images()
        summary = localize(cell_dir, model, images, split, threshold)
        counts["done_now"] += 1
        log(f"{cell_dir.id}: Dice {summary['dice']:.3f}, IoU {summary['iou']:.3f}, pointing "
            f"{summary['pointing']:.2f} over {summary['n']} lesion image(s)"
            if summary["n"] else f"{cell_dir.id}: no test image with a lesion")
        keras.backend.clear_session()
    return counts

