"""An external reference reproduced: MedMNIST v2's ResNet-50 (28) through radbench.

Runs the shipped `medmnist` grid (MedMNIST v2's protocol: ResNet-50 from scratch with their
CIFAR-style stem, 28 px, Adam 1e-3, batch 128, lr x 0.1 at 50 % and 75 % of the epochs, weights
of the best-val-AUC epoch, inputs in [-1, 1], no augmentation, BatchNorm momentum 0.9) with
`radbench run` on each dataset's own split, then the bare-Keras reference
(`scripts/medmnist_bare_keras.py`, no radbench code) on the same seeds, and prints test AUC and
ACC (threshold 0.5, as MedMNIST's `getACC`) of both beside the published values.

    python scripts/reproduce_medmnist.py --out /tmp/medmnist                    # the protocol
    python scripts/reproduce_medmnist.py --out /tmp/medmnist --epochs 30 \\
        --datasets breastmnist                                                 # a CPU budget

Each radbench cell's test predictions are also written in MedMNIST's own order and label space,
`medmnist-order/<dataset>_seed<k>_test.csv` (their `Evaluator.evaluate(save_folder=...)` format:
the test index, then one score column per MedMNIST label, no header). radbench's `y_score` is the
probability of the task's positive class, and BreastMNIST's positive class (malignant) is
MedMNIST's label 0: fed to MedMNIST's evaluator as it is, it would give 1 - AUC. When the
`medmnist` package is installed, its evaluator scores that file and the summary holds its AUC.

Everything is resumable: finished radbench cells and bare runs found under --out are kept.
Exit status 1 when a dataset run at the full protocol (100 epochs) misses the published AUC by
more than --tolerance; shorter budgets only report the gap.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL_EPOCHS = 100
# MedMNIST v2 (Yang et al., Scientific Data 2023), Table 3: ResNet-50 test AUC / ACC
PUBLISHED = {
    "breastmnist": {"28": (0.857, 0.812), "224": (0.866, 0.842)},
    "pneumoniamnist": {"28": (0.948, 0.854), "224": (0.962, 0.884)},
}


def default_data() -> Path:
    """$RADBENCH_TEST_DATA/medmnist, else ../shared/data/medmnist beside the checkout."""
    root = os.environ.get("RADBENCH_TEST_DATA")
    return Path(root) / "medmnist" if root else ROOT.parent / "shared" / "data" / "medmnist"


def write_grid(out: Path, seeds: list[int], epochs: int) -> Path:
    """The shipped medmnist grid with this run's seeds and epochs."""
    grid = yaml.safe_load((ROOT / "configs" / "grids" / "medmnist.yaml").read_text())
    grid["seeds"], grid["overrides"]["epochs"] = seeds, epochs
    grid["name"] = f"medmnist-{epochs}ep"
    path = out / f"{grid['name']}.yaml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def medmnist_order(cell_dir, labels: "np.ndarray") -> "np.ndarray":
    """The cell's test scores as MedMNIST's evaluator takes them: row i is test image i, column
    L the score of MedMNIST label L (the task's class_map names each label's class)."""
    import numpy as np

    config = cell_dir.config()
    class_map, positive = config.task.data.class_map, config.task.classes.positive
    predictions = cell_dir.predictions()
    index = predictions["case_id"].map(lambda case: int(re.search(r"test/(\d+)$", case)[1]))
    positive_score = np.full(len(labels), np.nan)
    positive_score[index.to_numpy()] = predictions["y_score"].to_numpy()
    if np.isnan(positive_score).any():
        raise SystemExit(f"{cell_dir.path}: predictions.csv lacks some of the {len(labels)} "
                         f"test images")
    n_labels = int(labels.max()) + 1
    columns = [positive_score if class_map.get(str(label), str(label)) == positive
               else 1.0 - positive_score for label in range(n_labels)]
    return np.stack(columns, axis=1)


def medmnist_evaluator(dataset: str, data: Path, scores) -> tuple[float, float] | None:
    """MedMNIST's own Evaluator on `scores` (None when the package is not installed)."""
    try:
        from medmnist.evaluator import Evaluator
    except ImportError:
        return None
    metrics = Evaluator(dataset, "test", root=str(data)).evaluate(scores)
    return float(metrics.AUC), float(metrics.ACC)


def run_radbench(dataset: str, grid: Path, data: Path, out: Path) -> list[dict]:
    """`radbench run DATASET --grid GRID` as a user types it; per seed: test AUC and ACC, the
    scores in MedMNIST's order written beside the run, and MedMNIST's evaluator on them."""
    import numpy as np
    import pandas as pd

    from radbench.store import RunDir

    command = [sys.executable, "-m", "radbench", "run", dataset, "--grid", str(grid),
               "--data", str(data), "--out", str(out)]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    with np.load(data / f"{dataset}.npz") as arrays:  # MedMNIST's test labels, read once
        labels = arrays["test_labels"].reshape(-1)
    rows = []
    for cell_dir in RunDir(out).cells():
        result = cell_dir.result()
        if result is None:
            continue
        predictions = cell_dir.predictions()
        accuracy = ((predictions["y_score"] > 0.5).astype(int) == predictions["y_true"]).mean()
        scores = medmnist_order(cell_dir, labels)
        ordered = out.parent / "medmnist-order" / f"{dataset}_seed{result.seed}_test.csv"
        ordered.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(scores).to_csv(ordered, header=False)  # MedMNIST's own save format
        official = medmnist_evaluator(dataset, data, scores)
        rows.append({"seed": result.seed, "test_auc": result.test_auc,
                     "test_acc": float(accuracy), "best_epoch": result.best_epoch,
                     "epochs": result.epochs_run, "medmnist_order_file": str(ordered),
                     "medmnist_evaluator_auc": official[0] if official else None,
                     "medmnist_evaluator_acc": official[1] if official else None})
    return sorted(rows, key=lambda row: row["seed"])


def run_bare(dataset: str, data: Path, seeds: list[int], epochs: int, out: Path) -> list[dict]:
    """The bare-Keras reference on each seed (kept when its JSON exists)."""
    rows = []
    for seed in seeds:
        record = out / f"{dataset}_seed{seed}_{epochs}ep.json"
        if not record.is_file():
            command = [sys.executable, str(ROOT / "scripts" / "medmnist_bare_keras.py"),
                       "--npz", str(data / f"{dataset}.npz"), "--seed", str(seed),
                       "--epochs", str(epochs), "--json", str(record)]
            print("$", " ".join(command), flush=True)
            subprocess.run(command, check=True)
        result = json.loads(record.read_text())
        rows.append({"seed": seed, "test_auc": result["test_auc"],
                     "test_acc": result["test_acc"], "best_epoch": result["best_epoch"],
                     "epochs": epochs})
    return rows


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(dataset: str, epochs: int, radbench: list[dict], bare: list[dict],
              tolerance: float) -> dict:
    """Means, SDs, the gap to the published 28-px value and radbench vs bare."""
    summary = {"dataset": dataset, "epochs": epochs,
               "published_resnet50": PUBLISHED[dataset]}
    for name, rows in (("radbench", radbench), ("bare_keras", bare)):
        if rows:
            auc, auc_sd = spread([r["test_auc"] for r in rows])
            acc, acc_sd = spread([r["test_acc"] for r in rows])
            summary[name] = {"seeds": [r["seed"] for r in rows], "auc": auc, "auc_sd": auc_sd,
                             "acc": acc, "acc_sd": acc_sd, "per_seed": rows,
                             "auc_gap_to_published_28": auc - PUBLISHED[dataset]["28"][0]}
    if radbench and bare:
        difference = summary["radbench"]["auc"] - summary["bare_keras"]["auc"]
        allowed = 2 * max(summary["radbench"]["auc_sd"], summary["bare_keras"]["auc_sd"])
        summary["radbench_minus_bare_auc"] = difference
        summary["agree_within_seed_spread"] = abs(difference) <= allowed
    if "radbench" in summary:
        summary["within_tolerance_of_published"] = (
            abs(summary["radbench"]["auc_gap_to_published_28"]) <= tolerance)
    return summary


def table(summaries: list[dict]) -> str:
    lines = ["| dataset | epochs | implementation | seeds | test AUC | test ACC | "
             "published ResNet-50 (28) AUC / ACC | (224) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        p28, p224 = s["published_resnet50"]["28"], s["published_resnet50"]["224"]
        for name in ("radbench", "bare_keras"):
            if name in s:
                r = s[name]
                lines.append(
                    f"| {s['dataset']} | {s['epochs']} | {name.replace('_', ' ')} | "
                    f"{len(r['seeds'])} | {r['auc']:.3f} ± {r['auc_sd']:.3f} | "
                    f"{r['acc']:.3f} ± {r['acc_sd']:.3f} | {p28[0]:.3f} / {p28[1]:.3f} | "
                    f"{p224[0]:.3f} / {p224[1]:.3f} |")
    for s in summaries:
        if "radbench_minus_bare_auc" in s:
            lines.append(f"\n{s['dataset']}: radbench − bare Keras AUC "
                         f"{s['radbench_minus_bare_auc']:+.3f} "
                         f"({'within' if s['agree_within_seed_spread'] else 'outside'} twice the "
                         f"larger seed SD); radbench − published (28) "
                         f"{s['radbench']['auc_gap_to_published_28']:+.3f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=None,
                        help="folder with breastmnist.npz / pneumoniamnist.npz")
    parser.add_argument("--datasets", default="breastmnist,pneumoniamnist")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=PROTOCOL_EPOCHS,
                        help=f"{PROTOCOL_EPOCHS}: MedMNIST's protocol; fewer: a CPU budget "
                        "(the schedule's steps move with it)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-Keras reference")
    parser.add_argument("--tolerance", type=float, default=0.03)
    args = parser.parse_args()
    data = args.data or default_data()
    seeds = [int(s) for s in args.seeds.split(",")]
    datasets = [d for d in args.datasets.split(",") if d]
    for dataset in datasets:
        if dataset not in PUBLISHED:
            parser.error(f"--datasets: unknown dataset {dataset!r}; expected {sorted(PUBLISHED)}")
        if not (data / f"{dataset}.npz").is_file():
            parser.error(f"{data / (dataset + '.npz')} not found (--data or $RADBENCH_TEST_DATA)")
    grid = write_grid(args.out, seeds, args.epochs)
    summaries = []
    for dataset in datasets:
        radbench = run_radbench(dataset, grid, data, args.out / f"radbench-{dataset}")
        bare = [] if args.no_bare else run_bare(dataset, data, seeds, args.epochs,
                                                args.out / "bare_keras")
        summaries.append(summarise(dataset, args.epochs, radbench, bare, args.tolerance))
    text = table(summaries)
    print(text)
    (args.out / "summary.md").write_text(text + "\n")
    (args.out / "summary.json").write_text(json.dumps(summaries, indent=1))
    missed = [s["dataset"] for s in summaries
              if args.epochs >= PROTOCOL_EPOCHS and not s.get("within_tolerance_of_published")]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
