"""`run --dry-run`'s cost line: a fixed part per run and per model group, and per cell its
training image-steps at its freeze setting's rate plus its forward passes, scaled by pixels and
each backbone's relative cost; rescaled by the run's own finished cells when it has some.
(scripts/calibrate_cost.py fits the CPU figures and checks them on cells it was not fitted on.)"""

from __future__ import annotations

import pytest

from radbench.config.schema import Training
from radbench.cost import CPU, GPU, Parts, estimate, run_seconds
from radbench.cellspec import Cell
from radbench.store import CellResult, RunDir
from tests.conftest import cell_record

PARTS = {0: Parts(1000, 100, 200), 1: Parts(600, 60, 120)}


def cell(backbone: str, size: int, epochs: int, fold: int = 0, freeze: str = "unfreezeall",
         lr: float = 1e-3, **training) -> Cell:
    return Cell("t", "scratch", backbone, freeze, lr, 0, fold,
                Training(image_size=size, epochs=epochs, **training))


def test_shipped_figures_scale_by_pixels_backbone_and_freeze_setting():
    cells = [cell("ResNet50", 128, 10), cell("InceptionResNetV2", 256, 5, fold=1,
                                             freeze="freezeall")]
    result = estimate(cells, PARTS, out=None)
    assert result.cells == 2 and result.image_steps == 1000 * 10 + 600 * 5
    resnet = 10_000 * CPU.step_s["unfreezeall"] + (100 * 11 + 200) * CPU.forward_s
    irv2 = 1.9 * 2 ** CPU.size_power * (3_000 * CPU.step_s["freezeall"]
                                        + (60 * 6 + 120) * CPU.forward_s)
    groups = CPU.group_s["ResNet50"] + CPU.start_s + (CPU.group_s["*"] - CPU.start_s) \
        * CPU.trace_factor["freezeall"]
    images = (10_000 + 1300 + 3_000 + 480) * CPU.image_s
    expected = CPU.run_s + groups + resnet + irv2 + images
    assert result.hours["cpu"] * 3600 == pytest.approx(expected)
    assert "2 cell(s) to run, 0.01 M training image-steps" in result.line()
    assert "fitted on cells measured on 2 CPU cores" in result.line()
    assert "assumed, not measured" in result.line()  # the GPU figures are not a measurement
    assert CPU.step_s["freezeall"] < CPU.step_s["unfreezetop10"] < CPU.step_s["unfreezeall"]
    # DenseNet121's last ten layers are a sliver of its last block: nearly a frozen body
    assert CPU.step("DenseNet121", "unfreezetop10") < CPU.step("ResNet50", "unfreezetop10")
    assert GPU.step_s["unfreezeall"] < CPU.step_s["unfreezeall"] / 50


def test_cells_of_one_model_group_share_its_fixed_part():
    """Cells that differ only in learning rate or fold share a built, traced model (the local
    executor's default); without sharing each pays the group's fixed part."""
    two = [cell("ResNet50", 64, 2, lr=1e-3), cell("ResNet50", 64, 2, lr=1e-4, fold=1)]
    shared, alone = (run_seconds(two, PARTS, CPU, reuse=r) for r in (True, False))
    assert alone - shared == pytest.approx(CPU.group_s["ResNet50"] - CPU.cell_s)


def test_batchnorm_calibration_and_train_fraction_count():
    plain = run_seconds([cell("ResNet50", 128, 4)], PARTS, CPU)
    calibrated = run_seconds([cell("ResNet50", 128, 4, batchnorm_calibration=True)], PARTS, CPU)
    assert calibrated - plain == pytest.approx(1000 * 5 * (CPU.forward_s + CPU.image_s))
    half = run_seconds([cell("ResNet50", 128, 4, train_fraction=0.5)], PARTS, CPU)
    assert plain - half == pytest.approx(500 * 4 * (CPU.step_s["unfreezeall"] + CPU.image_s))


def test_probe_features_are_counted_once_per_feature_set():
    probes = [cell("ResNet50", 128, 1, freeze="probe"), cell("ResNet50", 128, 1, freeze="knn")]
    seconds = run_seconds(probes, PARTS, CPU)
    first = CPU.group_seconds("ResNet50", "freezeall")
    assert seconds == pytest.approx(CPU.run_s + first + CPU.cell_s
                                    + 1300 * (CPU.forward_s + CPU.image_s) + 2 * 5.0)


def test_finished_cells_rescale_their_backbones_work(tmp_path):
    run = RunDir(tmp_path)
    run.cell("abc").write_config(cell_record(cell("MobileNetV3Small", 64, 4), "abc"))
    run.cell("abc").write_result(CellResult(
        cell_id="abc", fold=0, test_auc=0.7, backbone="MobileNetV3Small", image_size=64,
        freeze="unfreezeall", n_images={"train": 100, "val": 10, "test": 10},
        device="CPU: x86_64", timings={"later_epoch_s": 2.0, "train_images_per_s": 5.0}))
    result = estimate([cell("MobileNetV3Small", 64, 4), cell("ResNet50", 128, 1)], PARTS,
                      out=tmp_path)
    scale = 0.15 * 0.5 ** CPU.size_power
    modelled = scale * (100 * CPU.step_s["unfreezeall"] + 10 * CPU.forward_s) + 110 * CPU.image_s
    factor, n = result.measured["cpu"]["MobileNetV3Small"]
    assert (factor, n) == (pytest.approx(2.0 / modelled), 1)
    assert "ResNet50" not in result.measured["cpu"] and result.measured["gpu"] == {}
    small = scale * factor * (4000 * CPU.step_s["unfreezeall"] + (100 * 5 + 200) * CPU.forward_s
                              ) + 4700 * CPU.image_s
    resnet = 1000 * CPU.step_s["unfreezeall"] + (100 * 2 + 200) * CPU.forward_s \
        + 1400 * CPU.image_s
    expected = CPU.run_s + CPU.group_s["MobileNetV3Small"] + CPU.group_s["ResNet50"] + small \
        + resnet
    assert result.hours["cpu"] * 3600 == pytest.approx(expected)
    assert "MobileNetV3Small rescaled by 1 finished cell(s) of this run" in result.line()
