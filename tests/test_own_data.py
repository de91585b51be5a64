"""The README's own-data tour, run as written on a generated two-site data set: hospital A with
its own train/ and test/ folders, hospital B (shifted) as the external site; then a third site
added to the finished run, and a site that shares an image with A refused."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sklearn.metrics import roc_auc_score

from tests.conftest import REPO, run_cli

# CI's slow set: the tour's nine commands take about two minutes on 2 cores
pytestmark = [pytest.mark.usefixtures("eager"), pytest.mark.slow]


def tour_commands() -> list[list[str]]:
    """The commands of the README's tour block, as argument lists (continuations joined,
    comments dropped)."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Your data, your answer")[1].split("```bash")[1].split("```")[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True)[1:] for line in joined.splitlines()
            if line.startswith("radbench ")]


def lesion(path: Path, malignant: bool, rng: np.random.Generator, shift: float = 0.0) -> None:
    """A 64 px ultrasound-like picture: speckle, and for malignant a dark round lesion; a site
    `shift` brightens and flattens it (another scanner)."""
    image = rng.normal(110 + shift, 30 * (1 - shift / 200), (64, 64))
    if malignant:
        cy, cx = rng.integers(16, 48, 2)
        yy, xx = np.mgrid[:64, :64]
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < rng.integers(40, 120)] -= 70
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)


def site(root: Path, prefix: str, counts: dict[str, int], shift: float, seed: int,
         parts: bool) -> None:
    rng = np.random.default_rng(seed)
    for key, n in counts.items():
        part, label = key.split("/") if parts else ("", key)
        for i in range(n):  # two images per patient
            lesion(root / part / label / f"{prefix}{part}{label[0]}{i // 2}_{i}.png",
                   label == "malignant", rng, shift)


def test_the_own_data_tour(tmp_path):
    """One test, so that the tour runs once (a shared fixture was built twice under xdist):
    the tour as written, then what it must have shown, a site added and a site refused."""
    tour = run_tour(tmp_path)
    check_the_tour_ran_as_written(tour)
    check_the_external_section_is_scikit_learns_auc(tour)
    check_a_site_added_to_a_finished_run_scores_without_training(tour)
    check_a_site_sharing_an_image_with_the_training_data_is_refused(tour)


def run_tour(here: Path) -> dict:
    """The tour's folders and its commands' results, run in a folder holding them."""
    site(here / "hospitalA", "a", {"train/benign": 40, "train/malignant": 40,
                                   "test/benign": 12, "test/malignant": 12}, 0, 1, True)
    site(here / "hospitalB", "b", {"benign": 16, "malignant": 16}, 40, 2, False)
    site(here / "hospitalC", "c", {"benign": 12, "malignant": 12}, 20, 3, False)
    site(here / "new_cases", "n", {"benign": 2, "malignant": 2}, 0, 4, False)
    from radbench.models.backbones import get_backbone

    get_backbone("MobileNetV3Small").build(32).save_weights(here / "mine.weights.h5")
    (here / "tiny.yaml").write_text(yaml.safe_dump({  # the quick grid in miniature
        "name": "tiny", "sources": ["scratch", f"file:{here / 'mine.weights.h5'}"],
        "backbones": ["MobileNetV3Small"], "settings": [{"freeze": "unfreezeall",
                                                         "lr": [1e-3]}],
        "folds": 1, "overrides": {"image_size": 32, "epochs": 2,
                                  "batchnorm_calibration": True}}))  # as the smoke grid
    results = []
    for args in tour_commands():
        args = ["tiny.yaml" if a == "quick" else a for a in args]
        results.append((args, run_cli(*args, cwd=here)))
    return {"here": here, "results": results}


def check_the_tour_ran_as_written(tour):
    for args, result in tour["results"]:
        assert result.returncode == 0, (args, result.stderr[-3000:])
    said = {args[0] + (" --dry-run" if "--dry-run" in args else ""): r.stdout + r.stderr
            for args, r in tour["results"]}
    assert "split: given: the data's own test part is kept as the test set" in said["task"]
    assert "batch size 4: 64 training images give 16 optimizer steps per epoch" in said["task"]
    assert "0 error(s)" in said["data"]
    assert "external site hospitalB: 32 images (benign 16, malignant 16)" in said["run --dry-run"]
    assert "mine fold 0: train 64, val 16, test 24 (test: benign 12, malignant 12)" \
        in said["run --dry-run"]
    assert "external site hospitalB: 2 kept model(s) scored now" in said["run"]
    assert "External validation" in said["report"]
    assert "tasks without lesion masks: no lesion masks: heat maps only; wrote 8 overlay(s)" \
        in said["cam"]  # two test images per class, two sources
    overlays = sorted((tour["here"] / "runs" / "mine" / "heatmaps" / "mine").rglob("*.png"))
    assert len(overlays) == 8 and {p.name.split("_")[0] for p in overlays} == {
        "benign", "malignant"}
    rows = pd.read_csv(__import__("io").StringIO(
        next(r.stdout for a, r in tour["results"] if a[0] == "predict")))
    assert len(rows) == 2 * 4 and set(rows["source"]) == {
        "scratch", f"file:{tour['here'] / 'mine.weights.h5'}"}


def check_the_external_section_is_scikit_learns_auc(tour):
    out = tour["here"] / "runs" / "mine"
    report = json.loads(run_cli("report", str(out), "--json").stdout)
    external = {row["source"]: row for row in report["external"]}
    assert sorted(external) == ["file:mine.weights.h5", "scratch"]
    scores = {}
    for source, row in external.items():
        cell = out / "cells" / row["cell_id"]
        site = pd.read_csv(cell / "external" / "hospitalB.csv")
        test = pd.read_csv(cell / "predictions.csv")
        assert row["site"] == "hospitalB" and row["n_external"] == len(site) == 32
        assert row["external_auc"] == pytest.approx(roc_auc_score(site["y_true"],
                                                                  site["y_score"]))
        assert row["internal_auc"] == pytest.approx(roc_auc_score(test["y_true"],
                                                                  test["y_score"]))
        assert row["external_low"] <= row["external_auc"] <= row["external_high"]
        scores[source] = site.set_index("case_id")
    (pair,) = report["external_comparisons"]
    a, b = scores[pair["a"]], scores[pair["b"]].loc[scores[pair["a"]].index]
    assert pair["auc_difference"] == pytest.approx(
        roc_auc_score(a["y_true"], a["y_score"]) - roc_auc_score(b["y_true"], b["y_score"]))
    assert any("split: given, the release's own test part (24 images)" in note
               for note in report["notes"])
    page = (out / "report.html").read_text()
    assert "External validation" in page and "hospitalB" in page
    assert "Grad-CAM heat maps (no lesion masks: heat maps only)" in page
    from tests.report.test_html import chromium_driver

    assert (out / "figures" / "heatmaps.pdf").read_bytes().startswith(b"%PDF")
    driver = chromium_driver()
    try:
        driver.get((out / "report.html").as_uri())
        captions = [e.text for e in driver.find_elements("tag name", "figcaption")]
        assert any(c.startswith("Grad-CAM heat maps (no lesion masks") for c in captions)
        (image,) = [i for i in driver.find_elements("tag name", "img")
                    if "Grad-CAM heat maps" in i.find_element("xpath", "..").text]
        assert driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 100", image)
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def check_a_site_added_to_a_finished_run_scores_without_training(tour):
    here, out = tour["here"], tour["here"] / "runs" / "mine"
    results = sorted((out / "cells").glob("*/result.json"))
    before = {p: p.read_bytes() for p in results}
    added = run_cli("run", "mine.yaml", "--grid", "tiny.yaml", "--test-data",
                    "hospitalC", "--out", str(out), cwd=here)
    assert added.returncode == 0, added.stderr[-3000:]
    assert "2 cell(s) already done" in added.stderr
    assert "external site hospitalC: 2 kept model(s) scored now" in added.stderr
    assert {p: p.read_bytes() for p in results} == before
    report = json.loads(run_cli("report", str(out), "--json").stdout)
    assert sorted({r["site"] for r in report["external"]}) == ["hospitalB", "hospitalC"]


def check_a_site_sharing_an_image_with_the_training_data_is_refused(tour):
    here = tour["here"]
    shared = here / "hospitalD"
    shutil.copytree(here / "hospitalC", shared)
    twin = next((here / "hospitalA" / "train" / "malignant").glob("*.png"))
    shutil.copy(twin, shared / "malignant" / "copied_1.png")
    refused = run_cli("run", "mine.yaml", "--grid", "tiny.yaml", "--test-data", "hospitalD",
                      "--out", str(here / "runs" / "other"), "--dry-run", cwd=here)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.stderr.rstrip().endswith(error)
    assert re.search(r"external site hospitalD: image malignant/copied_1.png is also in the "
                     r"task's data \(train/malignant/\S+\.png, same file\)", refused.stderr)
    assert not (here / "runs" / "other").exists()
