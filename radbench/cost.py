"""What a grid will cost before it runs: image-steps per cell and hours on a CPU and on a GPU.

Throughput is kept as one reference figure per device, training images per second of ResNet50
at 128 px, scaled to each cell by its pixels and its backbone's `relative_cost` (the backbone
registry). The reference comes, in order of preference, from the run's own finished cells on
this kind of device (`timings.train_images_per_s` in result.json: radbench measures the user's
machine as it goes) or from the shipped defaults below.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from radbench.config.schema import PROBES
from radbench.cellspec import Cell
from radbench.models.backbones import get_backbone
from radbench.store import CellState, RunDir

REFERENCE_SIZE = 128
# ResNet50, 128 px, float32, training images/s including validation and the first epoch's trace
DEFAULT_THROUGHPUT = {
    "cpu": 15.0,  # measured: 2 CPU cores, TensorFlow (README, Performance)
    "gpu": 2000.0,  # assumed for one current data-centre GPU; not measured by radbench yet
}
BUILD_SECONDS = {"cpu": 45.0, "gpu": 30.0}  # building and tracing one model


@dataclass(frozen=True)
class Throughput:
    """Reference training images/s (ResNet50 at 128 px) on one kind of device: the shipped
    default, and per backbone the figure measured on this run's finished cells."""

    device: str
    default: float
    measured: dict[str, tuple[float, int]]  # backbone -> (reference figure, cells measured)

    def images_per_s(self, backbone: str) -> float:
        return self.measured[backbone][0] if backbone in self.measured else self.default

    def cell_seconds(self, cell: Cell, steps: float) -> float:
        """Wall seconds of one cell of `steps` training image-steps (`cell_steps`): build,
        then the steps (a probe whose features are stored: a few seconds of scikit-learn)."""
        if cell.freeze in PROBES and not steps:
            return PROBE_FIT_SECONDS
        scale = get_backbone(cell.backbone).relative_cost * (
            cell.training.image_size / REFERENCE_SIZE) ** 2
        return BUILD_SECONDS[self.device] + steps * scale / self.images_per_s(cell.backbone)

    def describe(self, backbones: set[str]) -> str:
        used = sorted(b for b in backbones if b in self.measured)
        parts = [f"{self.default:,.0f} img/s for ResNet50 at {REFERENCE_SIZE} px "
                 f"({'assumed' if self.device == 'gpu' else 'measured on 2 cores'}, shipped)"]
        parts += [f"{b} measured on {self.measured[b][1]} finished cell(s) of this run"
                  for b in used]
        return "; ".join(parts)


def _cell_speed(result) -> float | None:
    """Training images/s of a finished cell: from its later epochs when it ran more than one
    (the first holds the trace), else over the whole fit."""
    timings, n = result.timings or {}, (result.n_images or {}).get("train")
    if timings.get("later_epoch_s") and n:
        return n / timings["later_epoch_s"]
    return timings.get("train_images_per_s")


def measured_throughput(out: Path | None, device: str) -> Throughput:
    """The shipped default for `device` ("cpu" or "gpu") and, per backbone, the median over
    the run's finished cells on that kind of device, as a ResNet50-at-128-px figure."""
    figures: dict[str, list[float]] = {}
    if out is not None and RunDir(out).path.is_dir():
        for cell_dir in RunDir(out).cells():
            result = cell_dir.result() if cell_dir.stored_state() == CellState.DONE else None
            speed = _cell_speed(result) if result else None
            kind = "cpu" if str(getattr(result, "device", "")).startswith("CPU") else "gpu"
            if not speed or kind != device:
                continue
            backbone = get_backbone(result.backbone)
            scale = backbone.relative_cost * (int(result.image_size) / REFERENCE_SIZE) ** 2
            figures.setdefault(result.backbone, []).append(speed * scale)
    return Throughput(device, DEFAULT_THROUGHPUT[device],
                      {b: (statistics.median(f), len(f)) for b, f in figures.items()})


@dataclass(frozen=True)
class Estimate:
    cells: int
    image_steps: int  # training images x epochs, summed over the cells
    hours: dict[str, float]  # device -> estimated hours, one cell at a time
    throughput: dict[str, Throughput]

    backbones: frozenset[str] = frozenset()

    def line(self) -> str:
        parts = [f"{self.cells} cell(s) to run, {self.image_steps / 1e6:.2f} M training "
                 f"image-steps"]
        for device, hours in self.hours.items():
            parts.append(f"about {_duration(hours)} on one {device.upper()} "
                         f"({self.throughput[device].describe(set(self.backbones))})")
        return "cost: " + "; ".join(parts) + "; one cell at a time"


def _duration(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


PROBE_FIT_SECONDS = 5.0  # a probe cell on stored features: process start and scikit-learn


def cell_steps(cells: list[Cell], train_images: dict[int, int]) -> list[float]:
    """Training image-steps of each cell: its training images (x train_fraction) x epochs; a
    probe's one forward pass over every image (training images ~70 % of them, a forward pass
    ~1/3 of a step), counted only for the first cell of each stored-feature set (source,
    backbone, size, normalisation, interpolation, and the seed of a scratch backbone)."""
    seen: set[tuple] = set()
    steps = []
    for cell in cells:
        if cell.freeze in PROBES:
            key = (cell.source, cell.backbone, cell.training.image_size,
                   cell.training.normalization, cell.training.interpolation,
                   cell.seed if cell.source == "scratch" else None)
            steps.append(0.0 if key in seen else train_images[cell.fold] / 0.7 / 3)
            seen.add(key)
        else:
            steps.append(train_images[cell.fold] * cell.training.train_fraction
                         * cell.training.epochs)
    return steps


def estimate(cells: list[Cell], train_images: dict[int, int], out: Path | None = None
             ) -> Estimate:
    """The cost of running `cells` one at a time; `train_images` maps fold -> its training
    images. Uses the run's own measurements when `out` holds finished cells."""
    throughput = {device: measured_throughput(out, device) for device in ("cpu", "gpu")}
    steps = cell_steps(cells, train_images)
    hours = {device: sum(figure.cell_seconds(c, s) for c, s in zip(cells, steps)) / 3600
             for device, figure in throughput.items()}
    return Estimate(len(cells), int(sum(steps)), hours, throughput,
                    frozenset(c.backbone for c in cells))


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
