"""The self-contained HTML report: one file, plots embedded as PNG data URIs (matplotlib), no
scripts. Strip and box plots of the scenario AUCs per task and source, ROC curves of each source's
best cell, Grad-CAM overlays of a few test lesions per source, and the report's tables."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from radbench.report.build import Report, Section
from radbench.store import CellState, RunDir, atomic_write_text

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;
padding:4px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}figure{margin:1em 0}figcaption{font-size:13px;color:#555}"""


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def auc_plot(scenarios: pd.DataFrame) -> str | None:
    """Strip plot over box plot of complete scenarios' AUC, one panel per task."""
    import matplotlib.pyplot as plt

    complete = scenarios[scenarios["complete"]]
    if complete.empty:
        return None
    tasks = sorted(complete["task"].unique())
    figure, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    rng = np.random.default_rng(0)
    for axis, task in zip(axes[0], tasks):
        rows = complete[complete["task"] == task]
        sources = sorted(rows["source"].unique())
        values = [rows.loc[rows["source"] == s, "auc"].to_numpy() for s in sources]
        axis.boxplot(values, widths=0.5, showfliers=False)
        for i, v in enumerate(values, start=1):
            axis.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=14, alpha=0.7)
        axis.set_xticks(range(1, len(sources) + 1), [s[:24] for s in sources], rotation=20,
                        ha="right", fontsize=8)
        axis.set_title(task)
        axis.set_ylabel("scenario test AUC")
        axis.axhline(0.5, color="#aaa", lw=0.8, ls="--")
    return _png(figure)


def _best_cells(out: Path, cells: pd.DataFrame) -> pd.DataFrame:
    done = cells[cells["status"] == CellState.DONE].dropna(subset=["test_auc"])
    stored = [RunDir(out).cell(c).predictions_file.is_file() for c in done["cell_id"]]
    done = done[stored]
    return done.sort_values("test_auc", ascending=False).groupby(["task", "source"]).head(1)


def roc_plot(out: Path, cells: pd.DataFrame) -> str | None:
    """ROC curve of the best cell of each task x source, from its stored predictions."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    best = _best_cells(out, cells)
    if best.empty:
        return None
    tasks = sorted(best["task"].unique())
    figure, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        for cell in best[best["task"] == task].itertuples():
            predictions = RunDir(out).cell(cell.cell_id).predictions()
            fpr, tpr, _ = roc_curve(predictions["y_true"], predictions["y_score"])
            axis.plot(fpr, tpr, label=f"{cell.source[:28]} ({cell.test_auc:.3f})")
        axis.plot([0, 1], [0, 1], color="#aaa", lw=0.8, ls="--")
        axis.set_title(f"{task}: best cell per source")
        axis.set_xlabel("false positive rate")
        axis.set_ylabel("true positive rate")
        axis.legend(fontsize=7, loc="lower right")
    return _png(figure)


def cam_plot(out: Path, cells: pd.DataFrame, per_source: int = 3) -> str | None:
    """Grad-CAM overlays on test lesions of each source's best cell (cells that kept weights)."""
    import matplotlib.pyplot as plt

    from radbench.quiet import import_backend_quietly

    if not any(RunDir(out).cell(c).weights_file.is_file() for c in cells["cell_id"]):
        return None
    import_backend_quietly()

    from radbench.data.cache import ImageCache
    from radbench.grid import Cell
    from radbench.models.build import build_classifier
    from radbench.models.gradcam import gradcam
    from radbench.train.localization import lesion_masks

    panels = []
    for cell in _best_cells(out, cells).itertuples():
        directory = RunDir(out).cell(cell.cell_id)
        if not directory.weights_file.is_file():
            continue
        config = directory.config()
        spec = Cell.from_dict(config["cell"])
        split = directory.split()
        test = split[split["part"] == "test"]
        images = ImageCache(Path(config["data"]["cache_dir"])).images()
        masks = lesion_masks(directory, test["case_id"].tolist(), images.shape[1])
        chosen = test[test["case_id"].isin(masks)].head(per_source)
        if chosen.empty:
            continue
        model, _ = build_classifier(spec.backbone, spec.training, spec.freeze, None, spec.seed,
                                    source=spec.source)
        model.load_weights(directory.weights_file)
        maps = gradcam(model, spec.backbone, np.asarray(images[chosen["row"].to_numpy()]))
        for (case, row), cam in zip(chosen[["case_id", "row"]].itertuples(index=False), maps):
            panels.append((cell.source, case, np.asarray(images[row]), cam, masks[case]))
    if not panels:
        return None
    columns = per_source
    rows = int(np.ceil(len(panels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.1 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, (source, case, image, cam, mask) in zip(axes.ravel(), panels):
        axis.imshow(image)
        axis.imshow(cam, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        axis.contour(mask, levels=[0.5], colors="white", linewidths=1)
        axis.set_title(f"{source[:22]}\n{case[-24:]}", fontsize=7)
    return _png(figure)


def _section_html(section: Section) -> str:
    frame = section.text()
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    if section.note:
        parts.append(f"<p>{html.escape(section.note)}</p>")
    parts.append(frame.to_html(index=False, border=0, escape=True) if not frame.empty
                 else "<p>–</p>")
    return "\n".join(parts)


# plots shown after the section of that key
def _plots(out: Path, report: Report) -> dict[str, list[tuple[str, str | None]]]:
    return {
        "table": [("Scenario AUCs per task and source", auc_plot(report.scenario_frame)),
                  ("ROC curves of the best cell of each source", roc_plot(out, report.cell_table))],
        "localization": [("Grad-CAM (colour) and lesion outline (white), best cell of each "
                          "source", cam_plot(out, report.cell_table)
                          if len(report["localization"]) else None)],
    }


def write_html(out: Path, report: Report) -> Path:
    """report.html in the run directory: every section of the report, with its plots."""
    import matplotlib

    matplotlib.use("Agg")
    plots = _plots(out, report)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>radbench report</title><style>{STYLE}</style></head><body>",
             "<h1>radbench report</h1>"]
    for key, section in report.sections.items():
        parts.append(_section_html(section))
        parts += [_figure(uri, caption) for caption, uri in plots.get(key, []) if uri]
    parts += ["<h2>Notes</h2><ul>"] + [f"<li>{html.escape(n)}</li>" for n in report.notes]
    parts.append("</ul></body></html>")
    target = Path(out) / "report.html"
    atomic_write_text(target, "\n".join(parts))
    return target
