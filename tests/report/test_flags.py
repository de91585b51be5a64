"""Flags on real cells: a test part with 4 negatives is underpowered, a test part whose labels
are flipped is below chance, in the terminal, report.md and the HTML; and the flag rules checked
on tables against scipy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from scipy import stats

from radbench.report.flags import BELOW_CHANCE, CANNOT_RANK, UNDERPOWERED, cell_power, flags
from tests.conftest import run_cli


def bright_or_dark(path: Path, bright: bool, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).integers(0, 60, (64, 64))
    Image.fromarray((noise + (170 if bright else 40)).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def flipped_run(tmp_path_factory) -> Path:
    """A given split whose test folders swap the classes (12 'pos' images that look negative,
    4 'neg' that look positive), one kNN cell on frozen features: no network is trained."""
    root = tmp_path_factory.mktemp("flipped")
    seed = 0
    for part, label, n, bright in (("train", "pos", 20, True), ("train", "neg", 20, False),
                                   ("test", "pos", 12, False), ("test", "neg", 4, True)):
        for i in range(n):
            seed += 1
            bright_or_dark(root / "data" / part / label / f"{part}{label}{i}.png", bright, seed)
    task = root / "flip.yaml"
    task.write_text(yaml.safe_dump({
        "name": "flip", "data": {"adapter": "folders", "root": str(root / "data")},
        "classes": {"names": ["neg", "pos"], "positive": "pos"}, "split": {"scheme": "given"}}))
    grid = root / "knn.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "knn", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "knn"}], "overrides": {"image_size": 64}}))
    dry = run_cli("run", str(task), "--grid", str(grid), "--dry-run")
    assert "underpowered test part(s): fold 0: 4 neg" in dry.stdout + dry.stderr
    ran = run_cli("run", str(task), "--grid", str(grid), "--out", str(root / "run"))
    assert ran.returncode == 0, ran.stderr[-3000:]
    return root / "run"


def test_flipped_labels_are_below_chance_and_4_negatives_underpowered(flipped_run):
    shown = run_cli("report", str(flipped_run))
    assert shown.returncode == 0, shown.stderr
    terminal = shown.stdout + shown.stderr
    assert "Read these numbers with care" in terminal
    assert "BELOW CHANCE: flip scratch: 2 result(s) below 0.5" in terminal
    data = json.loads(run_cli("report", str(flipped_run), "--json").stdout)
    found = {(row["where"], row["flag"]) for row in data["warnings"]}
    assert ("headline", BELOW_CHANCE) in found
    assert ("MobileNetV3Small knn lr=0 seed=0 fold=0", UNDERPOWERED) in found
    (cell,) = data["cell_intervals"]
    assert (cell["n_pos"], cell["n_neg"]) == (12, 4) and cell["auc"] < 0.2
    assert cell["underpowered"] and cell["below_chance"]
    assert cell["ci_width"] == pytest.approx(cell["delong_high"] - cell["delong_low"])
    markdown = (flipped_run / "report.md").read_text()
    page = (flipped_run / "report.html").read_text()
    for text in (markdown, page):
        assert BELOW_CHANCE in text and "12 positive(s) and 4 negative(s)" in text
    assert "split: given, the release&#x27;s own test part (16 images)" in page


def test_the_flag_rules_on_tables():
    """Below chance needs the CI to exclude 0.5 (a t-interval over scenarios, from scipy);
    a gain whose CI holds zero cannot rank the sources; fewer than 10 of a class is
    underpowered."""
    y = np.r_[np.ones(9), np.zeros(30)].astype(int)
    predictions = {"c1": pd.DataFrame({"y_true": y}),
                   "c2": pd.DataFrame({"y_true": np.r_[np.ones(10), np.zeros(29)]})}
    intervals = pd.DataFrame({
        "cell_id": ["c1", "c2"], "task": "t", "source": "s", "backbone": "B", "freeze": "knn",
        "lr": 0.0, "seed": 0, "fold": [0, 1], "auc": [0.3, 0.45],
        "delong_low": [0.1, 0.4], "delong_high": [0.45, 0.52]})
    power = cell_power(intervals, predictions)
    assert power["underpowered"].tolist() == [True, False]
    assert power["below_chance"].tolist() == [True, False]
    scenarios = pd.DataFrame({"task": "t", "source": ["s"] * 4 + ["r"] * 4, "complete": True,
                              "auc": [0.40, 0.42, 0.44, 0.41, 0.40, 0.60, 0.30, 0.55]})
    comparisons = pd.DataFrame({"task": ["t", "t"], "a": ["s", "q"], "b": ["r", "r"],
                                "mean_gain_points": [2.0, 9.0], "mean_ci_low": [-0.01, 0.02],
                                "mean_ci_high": [0.05, 0.16]})
    found = flags(power, scenarios, comparisons)
    headline = found[found["where"] == "headline"]
    assert headline["source"].tolist() == ["s"]  # r: mean 0.46, but its CI holds 0.5
    low, high = stats.t.interval(0.95, 3, loc=0.4175, scale=stats.sem([0.40, 0.42, 0.44, 0.41]))
    assert f"[{low:.3f}, {high:.3f}] excludes 0.5" in headline["detail"].iloc[0]
    ranked = found[found["flag"] == CANNOT_RANK]
    assert ranked["where"].tolist() == ["s − r"]


def test_external_sites_are_flagged_underpowered_and_below_chance():
    from radbench.report.flags import site_flags

    external = pd.DataFrame({"task": "t", "site": ["b", "c"], "source": "s",
                             "external_pos": [12, 4], "external_neg": [15, 30],
                             "external_auc": [0.21, 0.7], "external_low": [0.05, 0.4],
                             "external_high": [0.37, 0.95]})
    found = {(r["where"], r["flag"]) for r in site_flags(external)}
    assert found == {("site b", BELOW_CHANCE), ("site c", UNDERPOWERED)}
