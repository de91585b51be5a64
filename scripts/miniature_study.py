#!/usr/bin/env python3
"""The study's question in miniature, on the real sets in ../shared/data, on 2 CPU cores.

Does a backbone pretrained on radiology images fine-tune better than one pretrained on natural
images, or from scratch? Three sources for the smoke backbone (MobileNetV3Small, 64 px):
  radiology  pretrained on head CT + PneumoniaMNIST chest X-rays + DDTI thyroid ultrasound
             (configs/corpora/radiology-mini.yaml, 8 classes, labels prefixed per set)
  natural    pretrained on the CIFAR-10 subset (configs/corpora/natural-mini.yaml, 10 classes)
  scratch    random initialisation
each fine-tuned over the smoke grid (6 freeze x lr scenarios) on BUSI (the breast task), then
compared by `radbench report`. `--grid bn-check-smoke` runs those scenarios under the paper's
BatchNorm and with BatchNorm statistics re-estimated on the training images, and the report
tests whether each source's gain changes with it. Before any training the script checks that no BUSI image is in
either corpus (same file, perceptual-hash twin, or near-equal 28 px thumbnail) and stops if one is.

    .venv/bin/python scripts/miniature_study.py --out runs/mini
    .venv/bin/python scripts/miniature_study.py --out runs/mini-quick --max-images 200 \
        --corpus-max-images 600 --epochs 1          # a few minutes, as the slow test runs it

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

from radbench.config.load import load_corpus, load_task  # noqa: E402
from radbench.data.manifest import build_manifest  # noqa: E402
from radbench.data.overlap import find_overlap  # noqa: E402
from radbench.errors import RadbenchError  # noqa: E402
from radbench.report.build import build_report  # noqa: E402
from radbench.report.formats import print_report, write_report  # noqa: E402
from radbench.runner import RunOptions, run_grid  # noqa: E402
from radbench.train.pretrain import part_manifest, pretrain  # noqa: E402

BACKBONE = "MobileNetV3Small"
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
    parser.add_argument("--grid", default="smoke", help="smoke (default), or bn-check-smoke: "
                        "the same under both BatchNorm settings (issue 14's question in "
                        "miniature)")
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
    sources = ["scratch"]
    for source, (corpus, roots) in corpora.items():
        weights = args.out / "weights" / f"{source}-{BACKBONE}.weights.h5"
        if not weights.is_file():
            console.print(f"pretraining the {source} source ({corpus.name})", highlight=False)
            pretrain(corpus, BACKBONE, weights, roots, epochs=args.epochs, verbose=0,
                     log=lambda line: console.print(line, highlight=False, markup=False))
        sources.append(f"file:{weights.resolve()}")
    summary = run_grid(RunOptions(task="breast", grid=args.grid, data=str(busi),
                                  out=args.out / "run", sources=sources,
                                  max_images=args.max_images,
                                  max_parallel=args.max_parallel), console)
    report = build_report(args.out / "run")
    print_report(report, Console())
    write_report(args.out / "run", report)
    console.print(f"miniature study done in {time.perf_counter() - started:.0f} s; report in "
                  f"{args.out / 'run'}", highlight=False)
    return 1 if summary.any_failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RadbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
