#!/usr/bin/env python3
"""Scale: time per epoch and peak private memory at 1k, 5k and 20k generated images.

Each size runs in its own process: a memory-mapped uint8 cache of N generated images, then a
cell's fit (MobileNetV3Small, frozen backbone, 64 px) through radbench's trainer. Checks: the
time per image of an epoch stays flat (20k vs 1k within 1.3x: linear time), and the peak private
memory grows by less than 64 MB plus a quarter of the 20k cache from 1k to 20k (the cache is
memory-mapped and read batch by batch, never copied into the process).

    python scripts/bench_scale.py [--sizes 1000,5000,20000]

Prints one JSON object; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchlib import REPO, PeakPrivateMemory, verdict


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--size", type=int, default=64, help="px")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None)
    return parser.parse_args()


def one(n: int, size: int, batch: int, work: Path) -> dict:
    """In a fresh process: generate the cache, fit two epochs, measure."""
    import pandas as pd

    from radbench.config.schema import Training
    from radbench.cellspec import Cell
    from radbench.train.cell import fit_and_predict

    path = work / f"images-{n}.npy"
    rng = np.random.default_rng(0)
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    for start in range(0, n, 1000):  # written in chunks, never whole in memory
        stop = min(n, start + 1000)
        images[start:stop] = rng.integers(0, 255, (stop - start, size, size, 3), dtype=np.uint8)
    images.flush()
    del images
    images = np.load(path, mmap_mode="r")
    y = rng.integers(0, 2, n)
    parts = np.array(["train"] * int(n * 0.7) + ["val"] * int(n * 0.1))
    parts = np.concatenate([parts, ["test"] * (n - len(parts))])
    split = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "row": np.arange(n),
                          "part": parts, "y": y})
    training = Training(image_size=size, batch_size=batch, epochs=2)
    cell = Cell("scale", "scratch", "MobileNetV3Small", "freezeall", 1e-3, 0, 0, training)
    with PeakPrivateMemory() as memory:
        outcome = fit_and_predict(cell, images, split, None, verbose=0)
    train = int((parts == "train").sum())
    epoch = outcome["timings"]["later_epoch_s"]
    return {"images": n, "train_images": train, "epoch_s": epoch,
            "ms_per_train_image": 1000 * epoch / train,
            "peak_private_mb": memory.peak / 2**20,
            "cache_mb": path.stat().st_size / 2**20}


def main() -> int:
    args = parse()
    work = args.work or Path(tempfile.mkdtemp(prefix="radbench-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.one is not None:
        print(json.dumps(one(args.one, args.size, args.batch, work)))
        return 0
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run([sys.executable, __file__, "--one", str(n), "--size",
                               str(args.size), "--batch", str(args.batch), "--work", str(work)],
                              capture_output=True, text=True, cwd=REPO,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if done.returncode != 0:
            sys.exit(f"size {n} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        (work / f"images-{n}.npy").unlink(missing_ok=True)
    small, large = rows[0], rows[-1]
    figures = {"sizes": rows,
               "time_per_image_ratio": large["ms_per_train_image"] / small["ms_per_train_image"],
               "private_memory_growth_mb": large["peak_private_mb"] - small["peak_private_mb"],
               "largest_cache_mb": large["cache_mb"]}
    checks = {"linear time (per-image epoch time ratio <= 1.3)":
                  figures["time_per_image_ratio"] <= 1.3,
              "memory bounded (growth <= 64 MB + 1/4 of the largest cache)":
                  figures["private_memory_growth_mb"] <= 64 + 0.25 * large["cache_mb"]}
    return verdict("scale", figures, checks)


if __name__ == "__main__":
    sys.exit(main())
