"""What a grid will cost before it runs: image-steps per cell and hours on a CPU and on a GPU.

A run's wall time is modelled as a fixed part per run (start-up, reading and checking the data,
image caches), a fixed part per model group (a cell process: start-up, build, weight load,
tracing; cells that differ only in learning rate or fold share one), a small part per further
cell of a group, and per cell the work: training image-steps at a rate that depends on the
freeze setting, plus forward passes (validation after every epoch, the final validation and
test predictions, BatchNorm re-estimation). Work is in seconds per image of ResNet50 at 128 px,
scaled by pixels and by each backbone's `relative_cost` (the backbone registry).

The CPU figures are fitted by `scripts/calibrate_cost.py` on cells measured on this project's
machine kind (2 cores, TensorFlow) and checked there on cells they were not fitted on; the GPU
figures are an assumption until a GPU is measured. Once cells of a run finish, each backbone's
measured epoch time rescales its work (`timings.later_epoch_s` in result.json).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from radbench.cellspec import Cell
from radbench.config.schema import PROBES
from radbench.models.backbones import get_backbone
from radbench.store import CellState, RunDir

REFERENCE_SIZE = 128
PROBE_FIT_SECONDS = 5.0  # a probe cell on stored features: scikit-learn


@dataclass(frozen=True)
class CostModel:
    """Seconds of a run on one kind of device (see the module's docstring)."""

    device: str
    run_s: float  # once per run
    group_s: dict[str, float]  # per model group of a fine-tuned backbone (process start,
    # build, tracing of the training and prediction steps), by backbone ("*": any other)
    trace_factor: dict[str, float]  # the group's part besides the process start, by freeze
    # setting relative to unfreezeall (a frozen body traces no backward pass)
    start_s: float  # a cell process's start (imports, the backend)
    cell_s: float  # per further cell of a group
    step_s: dict[str, float]  # per training image-step, ResNet50 at 128 px, by freeze setting
    forward_s: float  # per forward image, ResNet50 at 128 px
    source: str  # where the figures come from, said in the cost line
    size_power: float = 2.0  # work per image grows as (size / 128) ** size_power
    image_s: float = 0.0  # per image stepped or passed forward, whatever its size or backbone
    # (batching, the input pipeline, Python): what dominates tiny images on a CPU

    def group_seconds(self, backbone: str, freeze: str = "unfreezeall") -> float:
        traced = self.group_s.get(backbone, self.group_s["*"]) - self.start_s
        factor = self.trace_factor.get(f"{freeze}:{backbone}", self.trace_factor.get(freeze, 1))
        return self.start_s + traced * factor

    def step(self, backbone: str, freeze: str) -> float:
        """Per training image-step at 128 px of a ResNet50-sized backbone: the figure measured
        for this backbone and freeze setting (`FREEZE:BACKBONE`; what its "top 10 layers" are
        differs by architecture), else the freeze setting's."""
        return self.step_s.get(f"{freeze}:{backbone}", self.step_s[freeze])


# scripts/calibrate_cost.py, 2026-12-07, 2 CPU cores, TensorFlow: fitted on 13 runs (64-128 px;
# MobileNetV3Small, ResNet50, DenseNet121; every freeze setting), within 21 % on the 4 held out
CPU = CostModel("cpu", run_s=0.0,
                group_s={"MobileNetV3Small": 27.2, "ResNet50": 35.1, "DenseNet121": 58.1,
                         "*": 35.1},
                trace_factor={"freezeall": 0.46, "unfreezetop10": 0.45, "unfreezeall": 1.0,
                              "unfreezetop10:MobileNetV3Small": 0.45,
                              "unfreezetop10:ResNet50": 0.52,
                              "unfreezetop10:DenseNet121": 0.41},
                start_s=5.7, cell_s=0.5,
                step_s={"freezeall": 0.02254, "unfreezetop10": 0.02586,
                        "unfreezetop10:MobileNetV3Small": 0.02899,
                        "unfreezetop10:ResNet50": 0.02277,
                        "unfreezetop10:DenseNet121": 0.01445, "unfreezeall": 0.06943},
                forward_s=0.01068, size_power=1.4, image_s=0.0,
                source="fitted on cells measured on 2 CPU cores, scripts/calibrate_cost.py")
GPU = CostModel("gpu", run_s=30.0, group_s={"*": 30.0},
                trace_factor={"freezeall": 0.5, "unfreezetop10": 0.5, "unfreezeall": 1.0},
                start_s=10.0, cell_s=2.0,
                step_s={"freezeall": 0.00017, "unfreezetop10": 0.0002, "unfreezeall": 0.0005},
                forward_s=0.00017, source="assumed, not measured by radbench yet")
MODELS = {"cpu": CPU, "gpu": GPU}


def _scale(backbone: str, size: int, power: float = 2.0) -> float:
    """Work per image relative to ResNet50 at 128 px."""
    return get_backbone(backbone).relative_cost * (size / REFERENCE_SIZE) ** power


@dataclass(frozen=True)
class Parts:
    """Images per part of one fold."""

    train: int
    val: int = 0
    test: int = 0


def cell_work(cell: Cell, parts: Parts) -> tuple[float, float]:
    """(training image-steps, forward images) of a fine-tuned cell: its steps, validation after
    each epoch, the final validation and test predictions, BatchNorm re-estimation on the
    training images before every validation."""
    training = cell.training
    steps = parts.train * training.train_fraction * training.epochs
    forward = parts.val * (training.epochs + 1) + parts.test
    if training.batchnorm_calibration:
        forward += parts.train * training.train_fraction * (training.epochs + 1)
    return steps, forward


def work_seconds(cell: Cell, parts: Parts, model: CostModel, factor: float = 1.0) -> float:
    """Seconds of a fine-tuned cell's steps and forward passes on `model`'s device."""
    steps, forward = cell_work(cell, parts)
    scale = _scale(cell.backbone, cell.training.image_size, model.size_power) * factor
    return scale * (steps * model.step(cell.backbone, cell.freeze) + forward * model.forward_s) + \
        (steps + forward) * model.image_s


@dataclass(frozen=True)
class Estimate:
    cells: int
    image_steps: int  # training images x epochs, summed over the cells
    hours: dict[str, float]  # device -> estimated hours, one cell at a time
    sources: dict[str, str]  # device -> where its figures come from
    measured: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)

    def line(self) -> str:
        parts = [f"{self.cells} cell(s) to run, {self.image_steps / 1e6:.2f} M training "
                 f"image-steps"]
        for device, hours in self.hours.items():
            mine = self.measured.get(device, {})
            said = self.sources[device] + "".join(
                f"; {b} rescaled by {n} finished cell(s) of this run" for b, (_, n) in
                sorted(mine.items()))
            parts.append(f"about {_duration(hours)} on one {device.upper()} ({said})")
        return "cost: " + "; ".join(parts) + "; one cell at a time"


def _duration(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def measured_factors(out: Path | None, model: CostModel) -> dict[str, tuple[float, int]]:
    """Per backbone: the median over the run's finished fine-tuned cells on `model`'s kind of
    device of measured / modelled later-epoch seconds (training and validation), and how
    many cells."""
    ratios: dict[str, list[float]] = {}
    if out is None or not RunDir(out).path.is_dir():
        return {}
    for cell_dir in RunDir(out).cells():
        result = cell_dir.result() if cell_dir.stored_state() == CellState.DONE else None
        if result is None or getattr(result, "freeze", None) in PROBES:
            continue
        epoch_s = (result.timings or {}).get("later_epoch_s")
        n = result.n_images or {}
        kind = "cpu" if str(getattr(result, "device", "")).startswith("CPU") else "gpu"
        freeze = getattr(result, "freeze", "unfreezeall")
        if not epoch_s or not n.get("train") or kind != model.device or freeze not in \
                model.step_s:
            continue
        modelled = _scale(result.backbone, int(result.image_size), model.size_power) * (
            n["train"] * model.step(result.backbone, freeze) + n.get("val", 0) * model.forward_s
        ) + (
            n["train"] + n.get("val", 0)) * model.image_s
        ratios.setdefault(result.backbone, []).append(epoch_s / modelled)
    return {b: (statistics.median(r), len(r)) for b, r in ratios.items()}


def run_seconds(cells: list[Cell], parts: dict[int, Parts], model: CostModel,
                factors: dict[str, tuple[float, int]] | None = None,
                reuse: bool = True) -> float:
    """Seconds to run `cells` one at a time on `model`'s device (see the module docstring);
    `factors` rescale a backbone's work; `reuse`: cells of one model group share a process."""
    factors = factors or {}
    seconds = model.run_s if cells else 0.0
    groups: set[str] = set()
    features: set[tuple] = set()
    for cell in cells:
        scale = _scale(cell.backbone, cell.training.image_size, model.size_power) * factors.get(
            cell.backbone, (1.0, 0))[0]
        fold = parts[cell.fold]
        if cell.freeze in PROBES:  # a model and the features of every image, once per set
            feature = (cell.source, cell.backbone, cell.training.image_size,
                       cell.training.normalization, cell.training.interpolation,
                       cell.seed if cell.source == "scratch" else None)
            if feature not in features:
                images = fold.train + fold.val + fold.test
                seconds += model.group_seconds(cell.backbone, "freezeall") + images * (
                    model.forward_s * scale + model.image_s)
            else:
                seconds += model.cell_s
            features.add(feature)
            seconds += PROBE_FIT_SECONDS
            continue
        key = cell.model_key() if reuse else f"{cell.model_key()}-{cell.lr}-{cell.fold}"
        seconds += model.cell_s if key in groups else model.group_seconds(cell.backbone,
                                                                          cell.freeze)
        groups.add(key)
        seconds += work_seconds(cell, fold, model, factors.get(cell.backbone, (1.0, 0))[0])
    return seconds


def estimate(cells: list[Cell], parts: dict[int, Parts], out: Path | None = None,
             reuse: bool = True) -> Estimate:
    """The cost of running `cells` one at a time; `parts` maps fold -> its images per part.
    Uses the run's own finished cells when `out` holds some."""
    steps = sum(cell_work(c, parts[c.fold])[0] for c in cells if c.freeze not in PROBES)
    hours, measured = {}, {}
    for device, model in MODELS.items():
        factors = measured_factors(out, model)
        measured[device] = factors
        hours[device] = run_seconds(cells, parts, model, factors, reuse) / 3600
    return Estimate(len(cells), int(steps), hours,
                    {d: m.source for d, m in MODELS.items()}, measured)


def kept_models_line(cells: list[Cell], keep: str) -> str:
    """The disk the kept models take (`--keep-weights`): 4 bytes per weight of each kept model
    (radbench.models.backbones params_m); for best, one model per task and source, at most
    the largest backbone's. Probe cells keep no network."""
    trained = [c for c in cells if c.freeze not in PROBES]
    if keep == "none" or not trained:
        return "kept models: none"
    size = {c.backbone: get_backbone(c.backbone).params_m * 4 for c in trained}  # MB
    if keep == "all":
        total = sum(size[c.backbone] for c in trained)
        return (f"kept models: every cell's ({len(trained)}), about {_megabytes(total)} "
                f"(--keep-weights best keeps one per task and source)")
    pairs = {(c.task, c.source) for c in trained}
    largest = max(size.values())
    return (f"kept models: the best cell's of each task and source by validation AUC "
            f"({len(pairs)} model(s), at most {_megabytes(largest * len(pairs))}; "
            f"--keep-weights all|none)")


def _megabytes(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"
