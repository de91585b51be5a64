"""`radbench demo`: phantom data → a pretrained source → the smoke grid → the report, offline.

The demo task's phantom lesions are compared from scratch and from a backbone pretrained on a
generated 5-class phantom corpus (`radbench pretrain phantom`), drawn with another seed.
"""

from __future__ import annotations

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
    """Run the whole demo; returns False if any cell failed."""
    out = Path(out)
    data = generate_phantom(out / "phantom-data")
    err.print(f"phantom ultrasound data in {data}", highlight=False)
    corpus_dir = generate_corpus(out / "phantom-corpus")
    corpus, _ = load_corpus("phantom")
    weights = out / "weights" / "phantom-MobileNetV3Small.weights.h5"
    if not weights.is_file():
        err.print(f"pretraining {DEMO_BACKBONE} on the phantom corpus in {corpus_dir}",
                  highlight=False)
        pretrain(corpus, DEMO_BACKBONE, weights, {"phantom": corpus_dir}, verbose=0,
                 log=lambda line: err.print(line, highlight=False, markup=False))
    summary = run_grid(RunOptions(task="demo", grid="smoke", data=str(data), out=out,
                                  sources=["scratch", f"file:{weights.resolve()}"],
                                  max_parallel=max_parallel), err)
    report = build_report(out)
    print_report(report, console)
    written = write_report(out, report)
    err.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
    return not summary.any_failed
