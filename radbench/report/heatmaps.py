"""Heat maps for tasks without lesion masks: Grad-CAM of the positive class (of the predicted
class for a multi-class task) on a few test images per class, from the kept model of each task
and source (the best cell on validation, `run --keep-weights best`). No Dice or pointing game:
there is no mask to score them against; they show where the model looks.

`radbench cam DIR` writes them as PNG files under DIR/heatmaps/; the HTML report shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radbench.report.collect import source_label
from radbench.store import CellState, RunDir

NO_MASKS = "no lesion masks: heat maps only"


@dataclass
class Panel:
    """One overlay: the image as the cell saw it, its map in [0, 1], and what it shows."""

    task: str
    source: str
    label: str  # the image's class
    case_id: str
    image: np.ndarray
    cam: np.ndarray
    score: float  # the positive class's probability (multi-class: the predicted class's)


def _kept_per_source(run: RunDir) -> dict[tuple[str, str], str]:
    """(task, source) -> the kept cell with the best validation AUC, for tasks without masks
    and backbones with Grad-CAM."""
    from radbench.models.backbones import get_backbone

    best: dict[tuple[str, str], tuple[float, str]] = {}
    for cell in run.cells():
        config = cell.config()
        if (config.task.has_masks or cell.stored_state() != CellState.DONE
                or not cell.model_file.is_file() or config.cell.freeze in ("probe", "knn")
                or not get_backbone(config.cell.backbone).gradcam):
            continue
        val = cell.val_auc()
        key = (config.cell.task, config.cell.source)
        score = -1.0 if np.isnan(val) else val
        if key not in best or (score, cell.id) > best[key]:
            best[key] = (score, cell.id)
    return {key: cell_id for key, (_, cell_id) in sorted(best.items())}


def heatmap_panels(out: Path, per_class: int = 2) -> list[Panel]:
    """`per_class` test images of each class (the first by case id, one per patient), for the
    kept model of each task and source of a task without masks."""
    from radbench.data.cache import ImageCache
    from radbench.models.gradcam import gradcam
    from radbench.models.kept import load_model_file

    run, panels = RunDir(out), []
    for (task, source), cell_id in _kept_per_source(run).items():
        directory = run.cell(cell_id)
        config = directory.config()
        names = config.task.classes.names
        split = directory.split()
        groups = directory.data().manifest().set_index("case_id")["group"]
        test = split[split["part"] == "test"].assign(group=lambda f: f["case_id"].map(groups))
        chosen = test.drop_duplicates("group").sort_values("case_id").groupby("y").head(per_class)
        if chosen.empty:
            continue
        images = np.asarray(ImageCache(Path(config.data.cache_dir)).images()[
            chosen["row"].to_numpy()])
        model = load_model_file(directory.model_file)
        probabilities = np.asarray(model.predict(images, verbose=0))
        binary = not config.task.classes.multiclass
        targets = [1] if binary else sorted(set(probabilities.argmax(axis=1)))
        maps = {t: gradcam(model, config.cell.backbone, images, class_index=t) for t in targets}
        for index, (case, y) in enumerate(zip(chosen["case_id"], chosen["y"])):
            target = 1 if binary else int(probabilities[index].argmax())
            label = (config.task.classes.positive if y else config.task.classes.negative) \
                if binary else names[int(y)]
            panels.append(Panel(task, source_label(source), label, case, images[index],
                                maps[target][index], float(probabilities[index, target])))
    return panels


def heatmap_figure(panels: list[Panel], per_row: int = 4):
    """The panels as one matplotlib figure (a colour bar beside), or None without panels."""
    import matplotlib.pyplot as plt

    if not panels:
        return None
    rows = int(np.ceil(len(panels) / per_row))
    figure, axes = plt.subplots(rows, per_row, figsize=(2.6 * per_row + 0.8, 2.9 * rows),
                                squeeze=False, layout="constrained")
    for axis in axes.ravel():
        axis.axis("off")
    shown = None
    for axis, panel in zip(axes.ravel(), panels):
        axis.imshow(panel.image)
        shown = axis.imshow(panel.cam, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        axis.set_title(f"{panel.task} {panel.source}\nclass {panel.label}, p {panel.score:.2f}",
                       fontsize=7)
    figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8,
                    label="Grad-CAM (share of the map's maximum)")
    return figure


def write_heatmaps(out: Path, per_class: int = 2) -> list[Path]:
    """One PNG overlay per panel under OUT/heatmaps/<task>/<source>/<class>_<case>.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for panel in heatmap_panels(out, per_class):
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in panel.case_id)
        folder = Path(out) / "heatmaps" / panel.task / panel.source.replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        figure = heatmap_figure([panel], per_row=1)
        target = folder / f"{panel.label}_{safe}.png"
        partial = folder / f".{target.name}.partial.png"
        figure.savefig(partial, dpi=120)
        plt.close(figure)
        partial.replace(target)
        written.append(target)
    return written


def masks_absent(cells: pd.DataFrame, out: Path) -> bool:
    """Whether some finished cell's task has no lesion masks (its heat maps have no score)."""
    run = RunDir(out)
    return any(not run.cell(c).config().task.has_masks
               for c in cells.loc[cells["status"] == CellState.DONE, "cell_id"])
