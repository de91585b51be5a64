"""Calibrate the dry run's cost line (radbench.cost) on cells measured on this machine, and check
it on cells it was not fitted on.

Runs small grids with `radbench run` (traced, as users run them) on a generated given-split data
set, timing each whole run, and reads each cell's own timings (result.json: later epochs,
predictions, total). From the fit runs it derives the CPU model's figures (radbench.cost): per
forward image, per training image-step of each freeze setting, a model group's fixed part per
backbone, a further cell's, a run's. The held-out runs are then estimated with the fitted
figures and with the shipped ones (radbench.cost.CPU): their ratio to the measured wall time is
printed, and the script exits 1 when a fitted estimate is off by more than 25 %.

    python scripts/calibrate_cost.py --out /tmp/calibrate           # about 20 min on 2 cores
    python scripts/calibrate_cost.py --out /tmp/calibrate --quick   # two runs: a smoke test

The fitted figures are printed as JSON; radbench.cost.CPU holds the last ones (dated).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from radbench.cellspec import Cell  # noqa: E402
from radbench.config.schema import Training  # noqa: E402
from radbench.cost import CPU, CostModel, Parts, _scale, run_seconds  # noqa: E402

COUNTS = {"train": 80, "val": 20, "test": 20}  # per class
BACKBONES = ("MobileNetV3Small", "ResNet50", "DenseNet121")
# (backbone, size, freeze, learning rates, epochs): fitted on FIT, checked on CHECK
FIT = [("MobileNetV3Small", 64, "unfreezeall", [1e-3], 3),
       ("MobileNetV3Small", 96, "freezeall", [1e-2], 3),
       ("MobileNetV3Small", 64, "unfreezetop10", [1e-2, 1e-3], 2),
       ("ResNet50", 64, "unfreezeall", [1e-3], 2),
       ("ResNet50", 64, "freezeall", [1e-2], 3),
       ("ResNet50", 96, "unfreezetop10", [1e-2], 2),
       ("ResNet50", 64, "unfreezeall", [1e-3, 1e-4], 3),
       ("DenseNet121", 64, "unfreezeall", [1e-3], 2),
       ("DenseNet121", 64, "freezeall", [1e-2, 1e-3], 2),
       ("ResNet50", 128, "freezeall", [1e-2], 2),
       ("MobileNetV3Small", 128, "unfreezeall", [1e-3], 2),
       ("DenseNet121", 128, "unfreezeall", [1e-3], 2),
       ("DenseNet121", 96, "unfreezetop10", [1e-2], 2)]
CHECK = [("ResNet50", 96, "unfreezeall", [1e-3], 2),
         ("MobileNetV3Small", 96, "unfreezeall", [1e-3, 1e-4], 4),
         ("ResNet50", 128, "unfreezeall", [1e-3, 1e-4], 2),
         ("DenseNet121", 128, "unfreezetop10", [1e-2], 3)]


def make_data(root: Path) -> Path:
    """A given split of 96 px pictures (speckle, a dark lesion in the positive class)."""
    rng = np.random.default_rng(0)
    for part, n in COUNTS.items():
        for label in ("benign", "malignant"):
            for i in range(n):
                image = rng.normal(110, 30, (96, 96))
                if label == "malignant":
                    cy, cx = rng.integers(24, 72, 2)
                    yy, xx = np.mgrid[:96, :96]
                    image[(yy - cy) ** 2 + (xx - cx) ** 2 < 150] -= 70
                path = root / part / label / f"{part}{label[0]}{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return root


def cells_of(spec) -> list[Cell]:
    backbone, size, freeze, rates, epochs = spec
    return [Cell("calib", "scratch", backbone, freeze, lr, 0, 0,
                 Training(image_size=size, epochs=epochs, batch_size=16)) for lr in rates]


def run_once(spec, out: Path, task: Path, name: str) -> float:
    """Run one grid with `radbench run` (traced, one model group), its wall seconds."""
    backbone, size, freeze, rates, epochs = spec
    grid = out / f"{name}.yaml"
    grid.write_text(yaml.safe_dump({
        "name": name, "sources": ["scratch"], "backbones": [backbone],
        "settings": [{"freeze": freeze, "lr": rates}], "folds": 1,
        "overrides": {"image_size": size, "epochs": epochs, "batch_size": 16}}))
    env = {k: v for k, v in os.environ.items() if k != "RADBENCH_RUN_EAGERLY"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "radbench.cli", "run", str(task), "--grid",
                           str(grid), "--out", str(out / name), "--keep-weights", "none",
                           "--cache-dir", str(out / "cache")],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run {name} failed: {done.stderr[-2000:]}")
    return seconds


def process_start_seconds(repeats: int = 2) -> float:
    """A cell process's start: Python, radbench and the Keras backend imported."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import radbench.execute.worker; "
                        "from radbench.quiet import import_backend_quietly; "
                        "import_backend_quietly(); import keras"], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def cell_records(run: Path) -> list[dict]:
    """result.json of every cell of a run directory."""
    return [json.loads(p.read_text()) for p in sorted(run.glob("cells/*/result.json"))]


def fit(out: Path, names: list[str], walls: dict[str, float], start_s: float) -> CostModel:
    """The model's figures from the fit runs' cells: forward, the steady prediction time of
    cells that reused a traced model; a step per freeze setting, a later epoch (train and val)
    less its validation; a group's fixed part, a first cell's time less its epochs and steady
    predictions, plus a process start; a further cell's, the same without; a run's, its wall
    less its cells and one process start."""
    cells = [(name, r) for name in names for r in cell_records(out / name)]
    reused = [r for _, r in cells if r["timings"].get("reused_model")]

    def rates(power: float, overhead: float) -> tuple[float, dict[str, float], float]:
        """forward and step figures at a size power and per-image overhead, and the later
        epochs' squared log residual."""
        def scale(r) -> float:
            return _scale(r["backbone"], int(r["image_size"]), power)

        forward = max(1e-5, float(np.median([
            (r["timings"]["predict_s"] / (r["n_images"]["val"] + r["n_images"]["test"])
             - overhead) / scale(r) for r in reused])))
        def one(r) -> float:
            return ((r["timings"]["later_epoch_s"] - r["n_images"]["val"] * (
                forward * scale(r) + overhead)) / r["n_images"]["train"] - overhead) / scale(r)

        steps = {}
        for freeze in CPU.step_s:
            found = [one(r) for _, r in cells if r["freeze"] == freeze]
            steps[freeze] = max(float(np.median(found)), forward) if found else \
                CPU.step_s[freeze]
            if freeze == "unfreezetop10":  # per backbone: its last ten layers differ
                for backbone in {r["backbone"] for _, r in cells if r["freeze"] == freeze}:
                    steps[f"{freeze}:{backbone}"] = max(forward, float(np.median(
                        [one(r) for _, r in cells if r["freeze"] == freeze
                         and r["backbone"] == backbone])))

        def step_of(r) -> float:
            return steps.get(f"{r['freeze']}:{r['backbone']}", steps[r["freeze"]])

        residual = sum(np.log(r["timings"]["later_epoch_s"] / (
            scale(r) * (r["n_images"]["train"] * step_of(r)
                        + r["n_images"]["val"] * forward)
            + (r["n_images"]["train"] + r["n_images"]["val"]) * overhead)) ** 2
            for _, r in cells)
        return forward, steps, float(residual)

    grid = [(p, o) for p in np.arange(1.0, 2.01, 0.1) for o in np.arange(0, 0.0301, 0.001)]
    power, overhead = min(grid, key=lambda po: rates(*po)[2])
    forward, steps, _ = rates(power, overhead)

    def scale(r) -> float:
        return _scale(r["backbone"], int(r["image_size"]), power)

    def work(r) -> float:
        n = r["n_images"]
        return r["epochs_run"] * r["timings"]["later_epoch_s"] + (n["val"] + n["test"]) * (
            forward * scale(r) + overhead)

    firsts = [(r["backbone"], r["freeze"], r["timings"]["total_s"] - work(r))
              for _, r in cells if not r["timings"].get("reused_model")]
    traced = {b: float(np.median([t for b2, f, t in firsts if b2 == b and f == "unfreezeall"]))
              for b in {b for b, f, _ in firsts if f == "unfreezeall"}}
    factors = {f: round(float(np.median([t / traced[b] for b, f2, t in firsts
                                         if f2 == f and b in traced])), 2)
               for f in CPU.step_s if any(f2 == f and b in traced for b, f2, _ in firsts)}
    factors.update({f"unfreezetop10:{b}": round(float(np.median(
        [t / traced[b] for b2, f, t in firsts if f == "unfreezetop10" and b2 == b])), 2)
        for b, f, _ in firsts if f == "unfreezetop10" and b in traced})
    groups = {b: round(t + start_s, 1) for b, t in traced.items()}
    groups["*"] = round(float(np.median(list(groups.values()))), 1)
    further = [r["timings"]["total_s"] - work(r) for r in reused]
    runs = [walls[name] - sum(r["timings"]["total_s"] for n, r in cells if n == name) - start_s
            for name in names]
    return CostModel("cpu", max(0.0, round(float(np.median(runs)), 1)), groups,
                     {**CPU.trace_factor, **factors}, round(start_s, 1),
                     round(float(np.median(further)), 1),
                     {k: round(v, 5) for k, v in steps.items()}, round(forward, 5), "fitted",
                     round(float(power), 1), round(float(overhead), 4))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="two runs, no fit: a smoke test")
    parser.add_argument("--refit", action="store_true", help="fit and check the runs already "
                        "under --out (OUT/measured.json) without running them again")
    parser.add_argument("--resume", action="store_true", help="run only the runs that "
                        "OUT/measured.json lacks")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    parts = Parts(**{p: 2 * n for p, n in COUNTS.items()})
    plan = {"fit": FIT[:1], "check": CHECK[:1]} if args.quick else {"fit": FIT, "check": CHECK}
    names = {kind: [f"{kind}{i}" for i in range(len(specs))] for kind, specs in plan.items()}
    walls_file = args.out / "measured.json"
    if args.refit:
        walls = json.loads(walls_file.read_text())
    else:
        data = make_data(args.out / "data")
        task = args.out / "calib.yaml"
        task.write_text(yaml.safe_dump({
            "name": "calib", "data": {"adapter": "folders", "root": str(data)},
            "classes": {"names": ["benign", "malignant"], "positive": "malignant"},
            "split": {"scheme": "given"}}))
        walls = json.loads(walls_file.read_text()) if args.resume and walls_file.is_file() \
            else {}
        walls.setdefault("process_start_s", round(process_start_seconds(), 2))
        for kind, specs in plan.items():
            for name, spec in zip(names[kind], specs):
                if name in walls:
                    continue
                walls[name] = round(run_once(spec, args.out, task, name), 1)
                walls_file.write_text(json.dumps(walls, indent=1))
                print(json.dumps({"run": name, "spec": list(map(str, spec)),
                                  "seconds": walls[name]}), flush=True)
        walls_file.write_text(json.dumps(walls, indent=1))
    if args.quick:
        return 0
    model = fit(args.out, names["fit"], walls, walls["process_start_s"])
    checks = []
    for name, spec in zip(names["check"], plan["check"]):
        cells = cells_of(spec)
        checks.append({"run": name, "spec": list(map(str, spec)), "measured_s": walls[name],
                       "fitted_ratio": round(run_seconds(cells, {0: parts}, model)
                                             / walls[name], 3),
                       "shipped_ratio": round(run_seconds(cells, {0: parts}, CPU)
                                              / walls[name], 3)})
    fitted = [round(run_seconds(cells_of(spec), {0: parts}, model) / walls[name], 3)
              for name, spec in zip(names["fit"], plan["fit"])]
    worst = max(abs(c["fitted_ratio"] - 1) for c in checks)
    print(json.dumps({"process_start_s": walls["process_start_s"],
                      "fitted": {"run_s": model.run_s, "group_s": model.group_s,
                                 "trace_factor": model.trace_factor,
                                 "start_s": model.start_s,
                                 "cell_s": model.cell_s, "step_s": model.step_s,
                                 "forward_s": model.forward_s,
                                 "size_power": model.size_power,
                                 "image_s": model.image_s},
                      "fit_runs_ratio": fitted, "check": checks,
                      "worst_check_error": round(worst, 3), "target": "within 25 %",
                      "met": worst <= 0.25}, indent=1))
    return 0 if worst <= 0.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
