#!/usr/bin/env python3
"""The study's question in miniature, on the real sets in ../shared/data, on 2 CPU cores.

Does a backbone pretrained on radiology images fine-tune better than one pretrained on natural
images, or from scratch? Three sources for every backbone the grid names (64 px):
  radiology  pretrained on head CT + PneumoniaMNIST chest X-rays + DDTI thyroid ultrasound
             (configs/corpora/radiology-mini.yaml, 8 classes, labels prefixed per set)
  natural    pretrained on the CIFAR-10 subset (configs/corpora/natural-mini.yaml, 10 classes)
  scratch    random initialisation
each run over a grid on BUSI (the breast task), then compared by `radbench report`. Grids
(`--grid`, repeatable; each into OUT/run-GRID):
  smoke                   the 6 freeze x lr scenarios of MobileNetV3Small, fine-tuned
  bn-check-smoke          those under the paper's BatchNorm and with BatchNorm statistics
                          re-estimated on the training images (does each source's gain change?)
  label-efficiency-smoke  fold 0's training images cut to 10/25/50/100 %: AUC against the
                          fraction per source, and each source's data equivalence
  probe-smoke             a linear probe and a kNN on the frozen features of MobileNetV3Small and
                          ResNet50, every fold: the sources ranked without training a network
Each source is pretrained once per backbone (OUT/weights/SOURCE-BACKBONE.weights.h5, reused by
later runs) and named to the grid as one source, `file:OUT/weights/SOURCE-{backbone}.weights.h5`.
Before any training the script checks that no BUSI image is in either corpus (same file,
perceptual-hash twin, or near-equal 28 px thumbnail) and stops if one is.

    .venv/bin/python scripts/miniature_study.py --out runs/mini
    .venv/bin/python scripts/miniature_study.py --out runs/mini --grid label-efficiency-smoke \
        --grid probe-smoke
    .venv/bin/python scripts/miniature_study.py --out runs/mini-quick --max-images 60 \
        --corpus-max-images 200 --epochs 1          # a few minutes, as the slow test runs it

Exit code 0 when every cell finished, 1 when a cell failed, 2 on a leak or bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from radbench.config.load import load_corpus, load_grid, load_task  # noqa: E402
from radbench.data.manifest import build_manifest  # noqa: E402
from radbench.data.overlap import find_overlap  # noqa: E402
from radbench.errors import RadbenchError  # noqa: E402
from radbench.report.build import build_report  # noqa: E402
from radbench.report.formats import print_report, write_report  # noqa: E402
from radbench.runner import RunOptions, run_grid  # noqa: E402
from radbench.train.pretrain import part_manifest, pretrain  # noqa: E402

CORPORA = {  # source name -> (corpus config, part -> folder below the data root)
    "radiology": ("radiology-mini", {"headct": "head_ct_hemorrhage", "cxr": "medmnist",
                                     "thyroid": "ddti_thyroid"}),
    "natural": ("natural-mini", {"cifar10": "cifar10"}),
}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/miniature-study"))
    parser.add_argument("--data-root", type=Path, default=Path(
        os.environ.get("RADBENCH_TEST_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--epochs", type=int, default=None, help="pretraining epochs (default: "
                        "the corpus config's)")
    parser.add_argument("--corpus-max-images", type=int, default=None,
                        help="a stratified subset of each corpus part")
    parser.add_argument("--max-images", type=int, default=None, help="a BUSI subset")
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument("--grid", action="append", default=None,  # a shipped name or a YAML
                        help="smoke (default), bn-check-smoke, label-efficiency-smoke, "
                        "probe-smoke; repeat for several, each into OUT/run-GRID")
    return parser.parse_args()


def check_no_leak(busi_root: Path, corpora: dict, console: Console) -> None:
    task, _ = load_task("breast")
    downstream = build_manifest(task, busi_root)
    for source, (corpus, roots) in corpora.items():
        for part in corpus.parts:
            manifest = part_manifest(part.name, part.data, roots[part.name], part.max_images,
                                     corpus.seed)
            leaks = find_overlap(downstream, manifest)
            if leaks:
                first = leaks[0]
                raise RadbenchError(f"downstream image {first.downstream} is in the {source} "
                                    f"corpus as {first.corpus} ({first.how}); {len(leaks)} "
                                    f"overlap(s) in all")
            console.print(f"no BUSI image in {source}/{part.name} ({len(manifest.frame)} images)",
                          highlight=False)


def main() -> int:
    args = parse()
    console = Console(stderr=True)
    started = time.perf_counter()
    busi = args.data_root / "busi" / "Dataset_BUSI_with_GT"
    corpora = {}
    for source, (name, folders) in CORPORA.items():
        corpus, _ = load_corpus(name)
        if args.corpus_max_images:
            corpus = corpus.model_copy(update={"parts": [
                p.model_copy(update={"max_images": args.corpus_max_images}) for p in corpus.parts]})
        corpora[source] = (corpus, {part: args.data_root / folder for part, folder in folders.items()})
    check_no_leak(busi, corpora, console)
    grids = {name: load_grid(name)[0] for name in args.grid or ["smoke"]}  # shipped or a YAML
    backbones = sorted({b for grid in grids.values() for b in grid.backbones})
    for source, (corpus, roots) in corpora.items():
        for backbone in backbones:
            weights = args.out / "weights" / f"{source}-{backbone}.weights.h5"
            if weights.is_file():
                continue
            console.print(f"pretraining {backbone} on the {source} source ({corpus.name})",
                          highlight=False)
            began = time.perf_counter()
            pretrain(corpus, backbone, weights, roots, epochs=args.epochs, verbose=0,
                     log=lambda line: console.print(line, highlight=False, markup=False))
            console.print(f"pretrained {backbone} on {source} in "
                          f"{time.perf_counter() - began:.0f} s", highlight=False)
    sources = ["scratch"] + [f"file:{(args.out / 'weights').resolve()}/{source}-{{backbone}}"
                             f".weights.h5" for source in corpora]
    failed = False
    for name, grid in grids.items():
        run_dir = args.out / f"run-{grid.name}"
        began = time.perf_counter()
        summary = run_grid(RunOptions(task="breast", grid=name, data=str(busi), out=run_dir,
                                      sources=sources, max_images=args.max_images,
                                      max_parallel=args.max_parallel), console)
        console.print(f"grid {grid.name}: {time.perf_counter() - began:.0f} s on this machine",
                      highlight=False)
        report = build_report(run_dir)
        print_report(report, Console())
        write_report(run_dir, report)
        failed = failed or summary.any_failed
    console.print(f"miniature study done in {time.perf_counter() - started:.0f} s; reports in "
                  f"{', '.join(str(args.out / f'run-{g.name}') for g in grids.values())}",
                  highlight=False)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RadbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
