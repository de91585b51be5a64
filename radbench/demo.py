"""`radbench demo`: phantom data → a pretrained source → the smoke grid → the report, offline.

The demo task's phantom lesions are compared from scratch and from a backbone pretrained on a
generated 5-class phantom corpus (`radbench pretrain phantom`), drawn with another seed.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from radbench.config.load import load_corpus
from radbench.data.phantom import generate_corpus, generate_phantom
from radbench.report.build import build_report
from radbench.report.formats import print_report, write_report
from radbench.runner import RunOptions, run_grid
from radbench.train.pretrain import pretrain

DEMO_BACKBONE = "MobileNetV3Small"  # the smoke grid's backbone


def run_demo(out: Path, max_parallel: int, console: Console, err: Console) -> bool:
    """Run the whole demo; returns False if any cell failed. Each phase says how long it
    took, and the last line sums them up."""
    out = Path(out)
    took: dict[str, float] = {}
    began = time.perf_counter()
    data = generate_phantom(out / "phantom-data")
    err.print(f"phantom ultrasound data in {data}", highlight=False)
    corpus_dir = generate_corpus(out / "phantom-corpus")
    corpus, _ = load_corpus("phantom")
    took["phantom data"] = time.perf_counter() - began
    weights = out / "weights" / "phantom-MobileNetV3Small.weights.h5"
    began = time.perf_counter()
    if not weights.is_file():
        err.print(f"pretraining {DEMO_BACKBONE} on the phantom corpus in {corpus_dir}",
                  highlight=False)
        pretrain(corpus, DEMO_BACKBONE, weights, {"phantom": corpus_dir}, verbose=0,
                 log=lambda line: err.print(line, highlight=False, markup=False))
    took["pretraining"] = time.perf_counter() - began
    err.print(f"phase: pretraining took {took['pretraining']:.0f} s", highlight=False)
    began = time.perf_counter()
    summary = run_grid(RunOptions(task="demo", grid="smoke", data=str(data), out=out,
                                  sources=["scratch", f"file:{weights.resolve()}"],
                                  max_parallel=max_parallel), err)
    took["12 cells"] = time.perf_counter() - began
    err.print(f"phase: the smoke grid's 12 cells took {took['12 cells']:.0f} s", highlight=False,
              soft_wrap=True)
    began = time.perf_counter()
    report = build_report(out)
    print_report(report, console)
    written = write_report(out, report)
    took["report"] = time.perf_counter() - began
    err.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
    err.print(f"demo took {sum(took.values()):.0f} s: " + ", ".join(
        f"{name} {seconds:.0f} s" for name, seconds in took.items()), highlight=False,
        soft_wrap=True)
    return not summary.any_failed
