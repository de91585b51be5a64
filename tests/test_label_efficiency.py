"""A label-efficiency run on BUSI, as a user types it: nested, group-whole train sets per
cell, and the report's curve and data-equivalence table recomputed from the cells."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import run_cli
from tests.test_end_to_end import smoke_weights  # noqa: F401 - the fixture

FRACTIONS = (0.25, 1.0)

pytestmark = pytest.mark.usefixtures("eager")  # cells trained without tracing (conftest)


@pytest.mark.slow  # 8 cells and a report with Grad-CAM: about 3 min on 2 cores
def test_label_efficiency_on_busi(tmp_path, busi_root, smoke_weights):  # noqa: F811
    grid = tmp_path / "le.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "le", "sources": ["scratch"], "backbones": ["MobileNetV3Small"], "folds": 1,
        "settings": [{"freeze": "freezeall", "lr": [1e-2]}, {"freeze": "unfreezeall",
                                                              "lr": [1e-3]}],
        "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16},
        "axes": {"train_fraction": list(FRACTIONS)}}))
    out = tmp_path / "run"
    done = run_cli("run", "breast", "--grid", str(grid), "--data", str(busi_root), "--out",
                   str(out), "--max-images", "80", "--sources", f"scratch,file:{smoke_weights}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "train_fraction=0.25" in done.stderr  # the cells say which fraction they ran
    (manifest,) = (out / "data").glob("*/manifest.csv")
    groups = pd.read_csv(manifest, dtype=str).set_index("case_id")["group"]
    cells = []
    for path in sorted((out / "cells").glob("*/result.json")):
        result = json.loads(path.read_text())
        split = pd.read_csv(path.parent / "split.csv", dtype={"case_id": str})
        train = split[split["part"] == "train"]
        assert result["n_images"]["train"] == len(train)  # each cell records what it used
        cells.append({**result, "train_ids": set(train["case_id"]),
                      "unused": set(split.loc[split["part"] == "unused", "case_id"])})
    assert len(cells) == 8
    for small in [c for c in cells if c["train_fraction"] == 0.25]:
        (full,) = [c for c in cells if c["train_fraction"] == 1.0 and all(
            c[k] == small[k] for k in ("source", "freeze", "lr", "seed", "fold"))]
        assert small["train_ids"] < full["train_ids"]  # nested
        assert not full["unused"] and small["unused"] == full["train_ids"] - small["train_ids"]
        kept_groups = {groups[c] for c in small["train_ids"]}
        assert not kept_groups & {groups[c] for c in small["unused"]}  # whole patients
        assert 0.25 * len(full["train_ids"]) <= len(small["train_ids"]) < 0.5 * len(
            full["train_ids"])
    report = json.loads(run_cli("report", str(out), "--json").stdout)
    curve = pd.DataFrame(report["label_efficiency"])
    assert len(curve) == 4  # 2 sources x 2 fractions
    for row in curve.itertuples():
        mine = [c["test_auc"] for c in cells if c["train_fraction"] == row.train_fraction
                and (c["source"] == "scratch") == (row.source == "scratch")]
        assert (row.n, row.mean) == (2, pytest.approx(np.mean(mine)))
    baseline_full = curve.query("source == 'scratch' and train_fraction == 1.0")["mean"].item()
    for row in report["data_equivalence"]:
        means = curve[curve["source"] == row["source"]].sort_values("train_fraction")
        reached = means[means["mean"] >= baseline_full]["train_fraction"]
        expected = reached.iloc[0] if len(reached) else None
        assert row["baseline_full_data"] == pytest.approx(baseline_full)
        assert row["equivalent_fraction"] == expected
    html = (out / "report.html").read_text()
    assert "Label efficiency" in html and (out / "figures" / "label_efficiency.pdf").is_file()
