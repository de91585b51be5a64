#!/usr/bin/env python3
"""How much cheaper is a probe cell than the matching freezeall fine-tune cell? Side by side in
one run, on the same task, data, backbone, source, image size and fold: one `freezeall` cell at
the task's epochs (the paper's 30 unless --epochs) and one `probe` cell whose features are not
stored yet (cold: the forward pass is part of its cost), each in its own run directory and cell
process, timed wall to wall; then a second probe cell (another fold) that reuses the features.

    .venv/bin/python scripts/bench_probe.py --data ../shared/data/busi/Dataset_BUSI_with_GT
    .venv/bin/python scripts/bench_probe.py --data ... --backbone MobileNetV3Small \\
        --image-size 64 --epochs 2 --max-images 80 --target 1     # a tiny setting (the test)

Prints the times and the ratio; exit 1 when the cold probe is less than --target (default 50)
times cheaper, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from radbench.errors import RadbenchError  # noqa: E402
from radbench.runner import RunOptions, run_grid  # noqa: E402


def one_cell_grid(folder: Path, name: str, freeze: str, args: argparse.Namespace) -> Path:
    setting = {"freeze": freeze} if freeze in ("probe", "knn") else {"freeze": freeze,
                                                                      "lr": [1e-3]}
    overrides = {"image_size": args.image_size, "batch_size": args.batch_size}
    if args.epochs:
        overrides["epochs"] = args.epochs
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "sources": [args.source],
                                    "backbones": [args.backbone], "settings": [setting],
                                    "folds": args.folds, "overrides": overrides}))
    return path


def build_image_cache(folder: Path, grid: Path, args: argparse.Namespace) -> None:
    """Decode the images once before timing: a cost both kinds of cell share."""
    from radbench.config.load import load_grid, load_task
    from radbench.data.cache import build_cache
    from radbench.data.prepare import data_root, prepare, windows_of
    from radbench.grid import expand

    task, task_file = load_task(args.task)
    prepared = prepare(task, data_root(task, task_file, args.data), args.max_images,
                       cache_dir=folder / "cache", keep_inspection=False)
    (cell,) = expand(load_grid(str(grid))[0], task, [args.source])
    build_cache(prepared.manifest, cell.training.image_size, cell.training.interpolation,
                folder / "cache", windows=windows_of(task))


def timed_run(folder: Path, grid: Path, args: argparse.Namespace, console: Console,
              fold_count: int) -> tuple[float, list[dict]]:
    out = folder / grid.stem
    started = time.perf_counter()
    summary = run_grid(RunOptions(task=args.task, grid=str(grid), data=args.data, out=out,
                                  max_images=args.max_images, cache_dir=folder / "cache",
                                  max_parallel=1, reuse_models=False), console)
    seconds = time.perf_counter() - started
    if summary.any_failed:
        raise SystemExit(f"a cell of {grid.stem} failed; see {out}/cells/*/log.txt")
    results = [json.loads(p.read_text()) for p in sorted(out.glob("cells/*/result.json"))]
    assert len(results) == fold_count
    return seconds, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="breast")
    parser.add_argument("--data", required=True, help="the task's dataset folder")
    parser.add_argument("--backbone", default="ResNet50")
    parser.add_argument("--source", default="scratch", help="a source every machine has")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--target", type=float, default=50.0)
    args = parser.parse_args()
    args.folds = 1
    console = Console(stderr=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-probe-") as scratch:
            folder = Path(scratch)
            tune_grid = one_cell_grid(folder, "freezeall", "freezeall", args)
            build_image_cache(folder, tune_grid, args)
            tune_s, (tuned,) = timed_run(folder, tune_grid, args, console, 1)
            probe_s, (probed,) = timed_run(folder, one_cell_grid(folder, "probe", "probe", args),
                                           args, console, 1)
            knn_s, (knn,) = timed_run(folder, one_cell_grid(folder, "knn", "knn", args), args,
                                      console, 1)
    except RadbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ratio = tune_s / probe_s
    print(f"{args.task}, {args.backbone} from {args.source}, {args.image_size} px, "
          f"{tuned['n_images']['train']} train images, {tuned['epochs_run']} epochs:")
    print(f"  freezeall fine-tune cell: {tune_s:7.1f} s (test AUC {tuned['test_auc']:.3f})")
    print(f"  probe cell, cold features: {probe_s:7.1f} s (features "
          f"{probed['timings']['features_s']:.1f} s; test AUC {probed['test_auc']:.3f})")
    print(f"  kNN cell, stored features: {knn_s:7.1f} s (reused: "
          f"{knn['timings']['features_reused']}; test AUC {knn['test_auc']:.3f})")
    print(f"ratio fine-tune / cold probe: {ratio:.1f}x (target {args.target:g}x); "
          f"fine-tune / warm kNN: {tune_s / knn_s:.1f}x")
    return 0 if ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
