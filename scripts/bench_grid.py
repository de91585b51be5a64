#!/usr/bin/env python3
"""P3 and P4: what a grid costs with shared models against its cells run naively, and the
per-cell fixed cost.

P3  The paper's 24 scenarios (4 backbones x 3 freeze settings x 2 learning rates) of one task,
    source and fold, run twice through `radbench run` on the same data and image cache: naively
    (`--no-reuse-models`: one process per cell, each builds and traces its model) and as
    radbench runs them (cells that differ only in learning rate share one process and one built,
    traced model). Target: shared / naive wall time <= 0.6, with every cell's predictions equal
    (max |difference| <= 1e-5).
P4  Per-cell fixed cost (process start and imports, model build and weight load, the first
    step's tracing beyond a steady step) as a share of a cell's time. Target <= 0.10.

    python scripts/bench_grid.py                                  # the paper's 4 backbones
    python scripts/bench_grid.py --backbones MobileNetV3Small --size 64   # 6 scenarios, quicker
    ... --epochs 10 --patients 60     # longer cells: how P4's share falls as a cell grows

Prints one JSON object; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from benchlib import REPO, verdict

from radbench.models.backbones import paper_backbones

PAPER_SETTINGS = [{"freeze": "freezeall", "lr": [1e-2, 1e-3]},
                  {"freeze": "unfreezetop10", "lr": [1e-2, 1e-3]},
                  {"freeze": "unfreezeall", "lr": [1e-3, 1e-4]}]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", default=",".join(paper_backbones()),
                        help="comma-separated (default: the paper's four)")
    parser.add_argument("--size", type=int, default=75, help="px (Inception needs >= 75)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patients", type=int, default=10, help="phantom patients per class "
                                                                 "(3 images each; >= 10)")
    parser.add_argument("--work", type=Path, default=None, help="folder for data and runs")
    return parser.parse_args()


def run(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "radbench.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"radbench {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def results(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted((out / "cells").glob("*/result.json")):
        result = json.loads(path.read_text())
        result["predictions"] = pd.read_csv(path.parent / "predictions.csv")
        found[path.parent.name] = result
    return found


def fixed_share(wall: float, found: dict[str, dict]) -> dict:
    """Mean per cell: its share of the wall time, split into the fixed cost (start-up and
    imports, build and weight load, the first epoch's extra time over a steady one: tracing)
    and the rest (steady epochs, test predictions, Grad-CAM localization, writes)."""
    cells = len(found)
    per_cell = wall / cells
    parts = {"start_up_s": 0.0, "build_s": 0.0, "first_step_extra_s": 0.0, "predict_s": 0.0,
             "localization_and_writes_s": 0.0}
    for result in found.values():
        t = result["timings"]
        if t["later_epoch_s"] is None:
            sys.exit("P4 needs --epochs >= 2 to tell tracing from a steady epoch")
        parts["start_up_s"] += (per_cell - t["total_s"]) / cells
        parts["build_s"] += t["build_s"] / cells
        parts["first_step_extra_s"] += (t["first_epoch_s"] - t["later_epoch_s"]) / cells
        parts["predict_s"] += t["predict_s"] / cells
        parts["localization_and_writes_s"] += (t["total_s"] - t["build_s"] - t["fit_s"]
                                               - t["predict_s"]) / cells
    fixed = parts["start_up_s"] + parts["build_s"] + parts["first_step_extra_s"]
    return {"cells": cells, "seconds_per_cell": per_cell, **parts,
            "fixed_seconds_per_cell": fixed, "fixed_share": fixed / per_cell,
            # how long a cell must take for these fixed seconds to be 10 % of it
            "cell_seconds_for_a_10_percent_share": 10 * fixed}


def main() -> int:
    args = parse()
    work = args.work or Path(tempfile.mkdtemp(prefix="radbench-bench-grid-"))
    work.mkdir(parents=True, exist_ok=True)
    from radbench.data.phantom import generate_phantom

    data = generate_phantom(work / "data", patients_per_class=args.patients,
                            images_per_patient=3, size=max(64, args.size))
    env = {**os.environ, "RADBENCH_CACHE": str(work / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def grid(backbones: list[str], settings: list[dict], epochs: int) -> Path:
        path = work / f"grid-{'-'.join(backbones)}-{len(settings)}-{epochs}.yaml"
        path.write_text(yaml.safe_dump({
            "name": "bench", "sources": ["scratch"], "backbones": backbones,
            "settings": settings, "folds": 1,
            "overrides": {"image_size": args.size, "epochs": epochs, "batch_size": args.batch}}))
        return path

    def common(grid_file: Path, out: Path) -> list[str]:
        return ["run", "demo", "--grid", str(grid_file), "--data", str(data), "--out", str(out),
                "--max-parallel", "1", "--gpus", "cpu"]

    # untimed: decodes the images into the cache and warms the file caches, for both sides
    run(common(grid(["MobileNetV3Small"], [{"freeze": "freezeall", "lr": [1e-3]}], 1),
               work / "warm-up"), env)
    walls = {"shared": 0.0, "naive": 0.0}
    backbones = args.backbones.split(",")
    for index, backbone in enumerate(backbones):
        # one backbone at a time, the two sides alternating (and their order too), so that load
        # on a shared machine falls on both alike
        grid_file = grid([backbone], PAPER_SETTINGS, args.epochs)
        sides = [("shared", []), ("naive", ["--no-reuse-models"])]
        for side, extra in sides if index % 2 == 0 else sides[::-1]:
            walls[side] += run([*common(grid_file, work / f"{side}-{backbone}"), *extra], env)
    shared_wall, naive_wall = walls["shared"], walls["naive"]
    shared = {k: v for b in backbones for k, v in results(work / f"shared-{b}").items()}
    naive = {k: v for b in backbones for k, v in results(work / f"naive-{b}").items()}
    assert shared.keys() == naive.keys(), "the two runs did not give the same cells"
    differences = [float((shared[k]["predictions"]["y_score"]
                          - naive[k]["predictions"]["y_score"]).abs().max()) for k in shared]
    figures = {
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "grid": {"backbones": args.backbones, "scenarios": len(shared), "size": args.size,
                 "epochs": args.epochs, "batch": args.batch},
        "p3": {"naive_wall_s": naive_wall, "shared_wall_s": shared_wall,
               "ratio": shared_wall / naive_wall,
               "max_prediction_difference": max(differences),
               "cells_on_a_reused_model": sum(bool(r["timings"].get("reused_model"))
                                              for r in shared.values())},
        "p4": {"naive": fixed_share(naive_wall, naive),
               "shared": fixed_share(shared_wall, shared)},
        "work": str(work),
    }
    checks = {"P3 shared/naive <= 0.6": figures["p3"]["ratio"] <= 0.6,
              "P3 same predictions (<= 1e-5)": figures["p3"]["max_prediction_difference"] <= 1e-5,
              "P4 fixed share of a cell <= 0.10 (shared)":
                  figures["p4"]["shared"]["fixed_share"] <= 0.10}
    return verdict("grid cost (P3, P4)", figures, checks)


if __name__ == "__main__":
    sys.exit(main())
