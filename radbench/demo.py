"""`radbench demo`: phantom data → the smoke grid on the demo task → the report, offline."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from radbench.data.phantom import generate_phantom
from radbench.report.tables import build_report, print_report, write_report
from radbench.runner import RunOptions, run_grid


def run_demo(out: Path, max_parallel: int, console: Console, err: Console) -> bool:
    """Run the whole demo; returns False if any cell failed."""
    data = generate_phantom(Path(out) / "phantom-data")
    err.print(f"phantom ultrasound data in {data}", highlight=False)
    summary = run_grid(RunOptions(task="demo", grid="smoke", data=str(data), out=Path(out),
                                  max_parallel=max_parallel), err)
    report = build_report(out)
    print_report(report, console)
    written = write_report(out, report)
    err.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
    return not summary.any_failed
