"""The HTML report renders in headless Chromium: tables, embedded plots, no console errors."""

from __future__ import annotations


import re

import numpy as np
import pandas as pd
import pytest

from radbench.report.build import build_report
from radbench.report.formats import write_report
from radbench.store import RunDir
from radbench.atomic import atomic_write_csv
from tests.report.test_build import store


def chromium_driver():
    """The WebDriver scripts/report_picture.py uses; skips, saying why, without Chromium."""
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("report_picture",
                                                  REPO / "scripts" / "report_picture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.chromium_driver()
    except RuntimeError as exc:
        pytest.skip(str(exc))


FIGURES = ("scores", "forest", "roc", "training", "calibration")


@pytest.fixture
def run_with_predictions(tmp_path):
    """Two sources x 3 backbones x 2 lrs, one fold: test and validation predictions and a
    three-epoch history per cell, as `radbench run` stores them."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(10), np.zeros(14)].astype(int)
    for source, strength in (("scratch", 0.3), ("file:/w/pre.h5", 1.2)):
        for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
            for lr in (1e-2, 1e-3):
                scores = np.clip(y * strength / 2 + rng.random(24) * 0.6, 0, 1)
                store(tmp_path, source, backbone, lr, 0, roc_auc_score(y, scores))
                name = f"{source}-{backbone}-{lr}-0".replace(":", "_").replace("/", "_")
                folder = tmp_path / "cells" / name
                for file, values in (("predictions.csv", scores),
                                     ("val_predictions.csv", np.clip(
                                         y * strength / 2 + rng.random(24) * 0.6, 0, 1))):
                    atomic_write_csv(folder / file, pd.DataFrame(
                        {"case_id": [f"c{i}" for i in range(24)], "fold": 0, "y_true": y,
                         "y_score": values}))
                loss = 0.7 - strength * 0.1 * np.arange(3)
                atomic_write_csv(folder / "history.csv", pd.DataFrame(
                    {"epoch": [1, 2, 3], "loss": loss, "val_loss": loss + 0.05}))
    run = RunDir(tmp_path)
    run.append_invocation({"time": "2026-12-07T10:00:00+0000",
                           "argv": ["radbench", "run", "breast", "--grid", "full"]})
    cases = pd.DataFrame({"case_id": [f"c{i}" for i in range(24)], "label": "x", "group": "g"})
    run.data_dir("breast", "d1").write(cases, cases.assign(fold=0, part="test"), {
        "task": "breast", "root": "/data/busi", "data_id": "d1", "split_id": "s1",
        "counts": {"benign": 14, "malignant": 10}})
    return tmp_path


def test_html_report_renders_without_console_errors(run_with_predictions):
    out = run_with_predictions
    paths = write_report(out, build_report(out, command=["report", str(out)]), ("html",))
    page = out / "report.html"
    assert paths == [page]
    text = page.read_text()
    assert "<script" not in text and text.count("data:image/svg+xml;base64,") == len(FIGURES)
    assert "false positive rate" in (out / "figures" / "roc.svg").read_text()  # text stays text
    check_html_in_chromium(page)
    body = page.read_text()
    assert f"radbench report {out}" in body
    assert "2026-12-07T10:00:00+0000: radbench run breast --grid full" in body
    assert "/data/busi; data id d1, manifest sha256 " in body
    assert "Empty: no task has three or more sources." in body


def check_html_in_chromium(page, extra_figures: tuple[str, ...] = ()) -> None:
    """What issue 16 asks of report.html, checked in headless Chromium: the provenance header,
    the paper table with gains, CIs and p, a forest plot, pooled ROC, training curves, the
    reliability diagram, every figure loaded and also under figures/ as SVG and PDF, no
    console errors."""
    names = FIGURES + tuple(extra_figures)
    for name in names:
        assert (page.parent / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert "<svg" in (page.parent / "figures" / f"{name}.svg").read_text()
    driver = chromium_driver()
    try:
        driver.get(page.as_uri())
        assert driver.title == "radbench report"
        body = driver.find_element("tag name", "body").text
        assert "Provenance" in body and "run command" in body and "manifest sha256" in body
        tables = driver.find_elements("tag name", "table")
        assert len(tables) >= 5
        paper = driver.find_element("id", "paper_table").find_element(
            "xpath", "following-sibling::table").text
        assert " − " in paper and "points, p" in paper and re.search(r"\[[+-]\d", paper)
        captions = [e.text for e in driver.find_elements("tag name", "figcaption")]
        for start in ("Forest plot", "ROC curves pooled over cells", "Training curves",
                      "Reliability diagram"):
            assert any(c.startswith(start) for c in captions), (start, captions)
        images = driver.find_elements("tag name", "img")
        assert len(images) == len(names)
        for image in images:
            assert driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 100", image)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


def test_forest_rows_pair_each_scenario_and_pool_them(run_with_predictions):
    from radbench.report.analysis import PAIR_KEYS
    from radbench.report.figures import forest_rows

    report = build_report(run_with_predictions)
    rows = forest_rows(report.scenario_frame, report["comparisons"], report["paired_cells"],
                       "auc", PAIR_KEYS)
    scenarios, (pooled,) = [r for r in rows if not r["pooled"]], [r for r in rows if r["pooled"]]
    (comparison,) = report["comparisons"].to_dict("records")
    assert len(scenarios) == comparison["n_pairs"] == 6
    assert pooled["difference"] == pytest.approx(comparison["mean_difference"])
    assert (pooled["low"], pooled["high"]) == (comparison["mean_ci_low"],
                                               comparison["mean_ci_high"])
    delong = sorted(report["paired_cells"]["auc_difference"])
    assert sorted(r["difference"] for r in scenarios) == pytest.approx(delong)
    for row in scenarios:  # one fold per scenario: each has its DeLong interval
        assert row["low"] < row["difference"] < row["high"]


def test_a_run_whose_only_cell_failed_gets_every_format(tmp_path):
    """Issue 18: the HTML writer used to crash after the other formats were written."""
    store(tmp_path, "scratch", "ResNet50", 1e-2, 0, None, done=False)
    RunDir(tmp_path).cell("scratch-ResNet50-0.01-0").record_failure("boom", "crash")
    paths = write_report(tmp_path, build_report(tmp_path))
    assert {p.name for p in paths} >= {"report.md", "report.json", "report.html"}
    page = (tmp_path / "report.html").read_text()
    assert "Empty: no scenario is complete yet" in page
    assert "not drawn, no scenario is complete" in page
    assert not (tmp_path / "figures").exists()
