"""The self-contained HTML report: one file, no scripts, figures embedded as SVG data URIs.

A provenance header, then every section of the report (long tables folded in <details>), with
the figures after the section they belong to: scenario values, a forest plot of the paired
differences, ROC curves pooled over cells, training curves, reliability diagrams, Grad-CAM
overlays. Each figure is also written as SVG and PDF under DIR/figures/ for a journal; an empty
section or a figure that cannot be drawn says why.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from radbench.metrics import METRICS
from radbench.report.analysis import PAIR_KEYS
from radbench.report.build import Report, Section
from radbench.report.efficiency import efficiency_figure
from radbench.report.heatmaps import NO_MASKS, heatmap_figure, heatmap_panels, masks_absent
from radbench.report.figures import calibration_figure, forest_figure, forest_rows, roc_figure, \
    scores_figure, training_figure
from radbench.report.provenance import provenance_lines
from radbench.report.shown import empty_reason
from radbench.store import CellState, RunDir
from radbench.atomic import atomic_write_text

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;
padding:0 1em}table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid
#ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{
text-align:left}img{max-width:100%}figure{margin:1.2em 0}figcaption{font-size:13px;color:#555}
.empty{color:#777;font-style:italic}.provenance td{text-align:left}details summary{cursor:
pointer;color:#245}"""

FOLDED = {"cell_intervals", "paired_cells", "scenario_table", "by_lr", "by_freeze"}



def _save(figure, folder: Path, name: str) -> str:
    """Write `figure` as folder/name.svg and .pdf; return the SVG as a data URI."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    atomic_write_text(folder / f"{name}.svg", svg.decode())
    pdf = io.BytesIO()
    figure.savefig(pdf, format="pdf", bbox_inches="tight")
    temporary = folder / f".{name}.pdf.partial"
    temporary.write_bytes(pdf.getvalue())
    temporary.replace(folder / f"{name}.pdf")
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def _figure_html(uri: str | None, caption: str, why_not: str) -> str:
    if uri is None:
        return f"<p class='empty'>{html.escape(caption)}: not drawn, {html.escape(why_not)}.</p>"
    return (f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def cam_figure(out: Path, cells: pd.DataFrame, per_source: int = 4):
    """Grad-CAM overlays on test lesions of the best cell of each source (by test AUC among
    cells that kept weights), one image per patient, with a colour bar."""
    import matplotlib.pyplot as plt

    from radbench.quiet import import_backend_quietly

    run = RunDir(out)
    done = cells[cells["status"] == CellState.DONE].dropna(subset=["test_auc"])
    done = done[[run.cell(c).weights_file.is_file() for c in done["cell_id"]]]
    if done.empty:
        return None
    import_backend_quietly()

    from radbench.data.cache import ImageCache
    from radbench.models.build import build_classifier
    from radbench.models.gradcam import gradcam
    from radbench.train.localization import lesion_masks

    panels = []
    best = done.sort_values("test_auc", ascending=False).groupby(["task", "source"]).head(1)
    for cell in best.itertuples():
        directory = run.cell(cell.cell_id)
        config = directory.config()
        spec = config.cell
        split = directory.split()
        test = split[split["part"] == "test"]
        images = ImageCache(Path(config.data.cache_dir)).images()
        masks = lesion_masks(directory, test["case_id"].tolist(), images.shape[1])
        groups = directory.data().manifest().set_index("case_id")["group"]
        with_lesion = test[test["case_id"].isin(masks)].assign(
            group=lambda f: f["case_id"].map(groups))
        chosen = with_lesion.drop_duplicates("group").head(per_source)  # several patients
        if chosen.empty:
            continue
        model, _ = build_classifier(spec.backbone, spec.training, spec.freeze, None, spec.seed,
                                    source=spec.source)
        model.load_weights(directory.weights_file)
        maps = gradcam(model, spec.backbone, np.asarray(images[chosen["row"].to_numpy()]))
        for (case, group, row), cam in zip(chosen[["case_id", "group", "row"]]
                                           .itertuples(index=False), maps):
            panels.append((cell.source, f"patient {group}", np.asarray(images[row]), cam,
                           masks[case]))
    if not panels:
        return None
    rows = int(np.ceil(len(panels) / per_source))
    figure, axes = plt.subplots(rows, per_source, figsize=(2.6 * per_source + 0.8, 2.8 * rows),
                                squeeze=False, layout="constrained")
    for axis in axes.ravel():
        axis.axis("off")
    shown = None
    for axis, (source, patient, image, cam, mask) in zip(axes.ravel(), panels):
        axis.imshow(image)
        shown = axis.imshow(cam, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        axis.contour(mask, levels=[0.5], colors="white", linewidths=1)
        axis.set_title(f"{source}\n{patient}", fontsize=7)
    figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8,
                    label="Grad-CAM (share of the map's maximum)")
    return figure


def _provenance_html(report: Report) -> str:
    rows = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(text)}</td></tr>"
                   for label, text in provenance_lines(report.provenance))
    return f"<h2>Provenance</h2><table class='provenance'>{rows}</table>"


def _section_html(section: Section) -> str:
    frame = section.text()
    parts = [f"<h2 id='{section.key}'>{html.escape(section.title)}</h2>"]
    if section.note:
        parts.append(f"<p>{html.escape(section.note)}</p>")
    if frame.empty:
        parts.append(f"<p class='empty'>Empty: {html.escape(empty_reason(section.key))}.</p>")
    elif section.key in FOLDED:
        parts.append(f"<details><summary>{len(frame)} rows (click to show)</summary>"
                     f"{frame.to_html(index=False, border=0, escape=True)}</details>")
    else:
        parts.append(frame.to_html(index=False, border=0, escape=True))
    return "\n".join(parts)


def _figures(out: Path, report: Report) -> dict[str, list[str]]:
    """The figures' HTML, by the key of the section they follow."""
    folder = Path(out) / "figures"
    cells = report.cell_table
    predictions = report.predictions
    label = METRICS[report.metric].label
    comparisons = report["comparisons"]
    made: dict[str, list[str]] = {}

    def add(key: str, name: str, figure, caption: str, why_not: str) -> None:
        uri = _save(figure, folder, name) if figure is not None else None
        made.setdefault(key, []).append(_figure_html(uri, caption, why_not))

    add("table", "scores", scores_figure(report.scenario_frame, report.metric),
        f"Scenario test {label} per task and source (box: quartiles; dots: scenarios)",
        "no scenario is complete")
    rows = forest_rows(report.scenario_frame, comparisons, report["paired_cells"],
                       report.metric, PAIR_KEYS) if len(comparisons) else []
    add("comparisons", "forest", forest_figure(rows, report.metric),
        f"Forest plot: each scenario's paired difference in test {label} (squares; lines: "
        f"DeLong 95 % CI where the scenario is one fold) and the mean difference with its "
        f"bootstrap 95 % CI (diamond)", "there is no paired comparison")
    add("comparisons", "roc", roc_figure(out, cells, predictions),
        "ROC curves pooled over cells: per source the median true positive rate over every "
        "finished cell at each false positive rate, band: interquartile range",
        "no finished cell has stored predictions")
    add("comparisons", "training", training_figure(out, cells),
        "Training curves: per source the median train (dashed) and validation (solid) loss "
        "over cells per epoch, band: interquartile range", "no finished cell has a history")
    add("metrics", "calibration", calibration_figure(cells, predictions),
        "Reliability diagram: observed positive rate against mean predicted probability, ten "
        "equal-width bins, test cases of every finished cell of a source pooled; ECE: mean over "
        "cells", "no finished cell has stored predictions")
    if len(report["label_efficiency"]):
        add("label_efficiency", "label_efficiency",
            efficiency_figure(report["label_efficiency"], report.metric),
            f"Label efficiency: scenario test {label} against the share of training images, "
            f"median over scenarios with the interquartile band", "no curve")
    if masks_absent(cells, out):
        add("localization", "heatmaps", heatmap_figure(heatmap_panels(out)),
            f"Grad-CAM heat maps ({NO_MASKS}): the positive class's map on test images of "
            "each class, kept model of each source (best cell on validation); no Dice or "
            "pointing game without masks", "no finished fine-tuned cell kept its model (`run "
            "--keep-weights best`, the default, keeps one per source)")
    if len(report["localization"]):
        add("localization", "gradcam", cam_figure(out, cells),
            "Grad-CAM (colour) and lesion outline (white) on test images of several patients, "
            "best cell of each source", "no cell kept its weights")
    return made


def write_html(out: Path, report: Report) -> Path:
    """report.html in the run directory (and its figures under figures/)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG
    matplotlib.rcParams["pdf.fonttype"] = 42  # TrueType in the PDF, as journals ask
    figures = _figures(out, report)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>radbench report</title><style>{STYLE}</style></head><body>",
             "<h1>radbench report</h1>", _provenance_html(report)]
    for key, section in report.sections.items():
        parts.append(_section_html(section))
        parts += figures.get(key, [])
    parts += ["<h2>Notes</h2><ul>"] + [f"<li>{html.escape(n)}</li>" for n in report.notes]
    parts.append("</ul></body></html>")
    target = Path(out) / "report.html"
    atomic_write_text(target, "\n".join(parts))
    return target
