"""`run --dry-run`'s cost line: image-steps and hours from a reference throughput scaled by
pixels and each backbone's relative cost, measured on the run's own finished cells when it
has some."""

from __future__ import annotations

import pytest

from radbench.config.schema import Training
from radbench.cost import BUILD_SECONDS, DEFAULT_THROUGHPUT, estimate
from radbench.cellspec import Cell
from radbench.store import CellResult, RunDir
from tests.conftest import cell_record


def cell(backbone: str, size: int, epochs: int, fold: int = 0) -> Cell:
    return Cell("t", "scratch", backbone, "unfreezeall", 1e-3, 0, fold,
                Training(image_size=size, epochs=epochs))


def test_shipped_defaults_scale_by_pixels_and_backbone():
    cells = [cell("ResNet50", 128, 10), cell("InceptionResNetV2", 256, 5, fold=1)]
    result = estimate(cells, {0: 1000, 1: 600}, out=None)
    assert result.cells == 2 and result.image_steps == 1000 * 10 + 600 * 5
    cpu = DEFAULT_THROUGHPUT["cpu"]
    expected = (2 * BUILD_SECONDS["cpu"] + 10_000 / cpu + 3_000 * 1.9 * 4 / cpu) / 3600
    assert result.hours["cpu"] == pytest.approx(expected)
    assert "2 cell(s) to run, 0.01 M training image-steps" in result.line()
    assert "assumed" in result.line()  # the GPU figure is not a measurement


def test_finished_cells_give_their_backbones_measured_speed(tmp_path):
    run = RunDir(tmp_path)
    run.cell("abc").write_config(cell_record(cell("MobileNetV3Small", 64, 4), "abc"))
    run.cell("abc").write_result(CellResult(
        cell_id="abc", fold=0, test_auc=0.7, backbone="MobileNetV3Small", image_size=64,
        n_images={"train": 100, "val": 10, "test": 10}, device="CPU: x86_64",
        timings={"later_epoch_s": 2.0, "train_images_per_s": 5.0}))
    result = estimate([cell("MobileNetV3Small", 64, 4), cell("ResNet50", 128, 1)], {0: 300},
                      out=tmp_path)
    measured = 100 / 2.0 * 0.15 * (64 / 128) ** 2  # its later epochs, as ResNet50 at 128 px
    figure = result.throughput["cpu"]
    assert figure.images_per_s("MobileNetV3Small") == pytest.approx(measured)
    assert figure.images_per_s("ResNet50") == DEFAULT_THROUGHPUT["cpu"]  # none measured
    assert result.throughput["gpu"].measured == {}  # a CPU cell says nothing of a GPU
    expected = (2 * BUILD_SECONDS["cpu"] + 1200 * 0.15 * 0.25 / measured + 300 / 15.0) / 3600
    assert result.hours["cpu"] == pytest.approx(expected)
    assert "MobileNetV3Small measured on 1 finished cell(s)" in result.line()
