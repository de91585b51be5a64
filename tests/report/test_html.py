"""The HTML report renders in headless Chromium: tables, embedded plots, no console errors."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from radbench.report.build import build_report
from radbench.report.formats import write_report
from radbench.store import atomic_write_csv
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


@pytest.fixture
def run_with_predictions(tmp_path):
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(10), np.zeros(14)].astype(int)
    for source, strength in (("scratch", 0.3), ("file:/w/pre.h5", 1.2)):
        for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
            for lr in (1e-2, 1e-3):
                scores = y * strength + rng.random(24)
                from sklearn.metrics import roc_auc_score

                store(tmp_path, source, backbone, lr, 0, roc_auc_score(y, scores))
                name = f"{source}-{backbone}-{lr}-0".replace(":", "_").replace("/", "_")
                atomic_write_csv(tmp_path / "cells" / name / "predictions.csv", pd.DataFrame(
                    {"case_id": [f"c{i}" for i in range(24)], "fold": 0, "y_true": y,
                     "y_score": scores}))
    return tmp_path


def test_html_report_renders_without_console_errors(run_with_predictions):
    out = run_with_predictions
    paths = write_report(out, build_report(out), ("html",))
    page = out / "report.html"
    assert paths == [page]
    text = page.read_text()
    assert "<script" not in text and text.count("data:image/png;base64,") == 2
    driver = chromium_driver()
    try:
        driver.get(page.as_uri())
        assert driver.title == "radbench report"
        tables = driver.find_elements("tag name", "table")
        assert len(tables) >= 3
        assert "file:pre.h5 − scratch" in driver.find_element("tag name", "body").text
        images = driver.find_elements("tag name", "img")
        assert len(images) == 2
        for image in images:
            assert driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 100", image)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
