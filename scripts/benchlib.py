"""Helpers shared by the benchmark scripts: interleaved timing, peak private memory, verdicts.

Every figure a script prints is a ratio of two measurements taken in the same run, alternating
the two sides so that drift on a shared machine hits both alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def machine() -> str:
    """The machine in words: CPU model, cores visible, Python, Keras backend."""
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} core(s), Python {platform.python_version()}"


def interleaved(a: Callable[[], float], b: Callable[[], float], repeats: int
                ) -> tuple[list[float], list[float]]:
    """Run a, b, a, b, ... `repeats` times each; each returns a throughput or a time."""
    first, second = [], []
    for _ in range(repeats):
        first.append(a())
        second.append(b())
    return first, second


def fit_epoch_seconds(model, *args, **kwargs) -> float:
    """Seconds of one epoch of `model.fit(*args, **kwargs)`, timed from its first batch to its
    last by radbench's own epoch timer. `fit()`'s own set-up and teardown are left out: on these
    machines TensorFlow's fit() now and then stalls ~3.5 s after the last callback, whatever
    the input (seen on a bare fit on arrays as often as on radbench's batches), which would
    otherwise decide a median of a few runs."""
    from radbench.train.cell import epoch_timer

    history = model.fit(*args, epochs=1, verbose=0, callbacks=[epoch_timer()], **kwargs)
    return history.history["epoch_seconds"][0]


def median(values: list[float]) -> float:
    return float(statistics.median(values))


class PeakPrivateMemory:
    """Samples this process's private resident memory (RssAnon) in a thread; `peak` in bytes.

    Pages of a memory-mapped file are not private: the image cache does not count, a copy of
    it would."""

    def __init__(self, every_s: float = 0.05):
        self.every_s, self.peak = every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.every_s)

    def __enter__(self) -> "PeakPrivateMemory":
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def verdict(name: str, figures: dict, checks: dict[str, bool]) -> int:
    """Print the figures and checks as one JSON object; 0 when every check holds, else 1."""
    missed = [k for k, ok in checks.items() if not ok]
    print(json.dumps({"benchmark": name, "machine": machine(), **figures,
                      "checks": checks, "missed": missed}, indent=2, default=float))
    if missed:
        print(f"{name}: target missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0
