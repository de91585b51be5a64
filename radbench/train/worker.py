"""Entry point of one cell process: `python -m radbench.train.worker CELL_DIR`.

Exit 0 with result.json written, or exit 1 with failure.json holding a one-line reason (the
traceback goes to the cell's log, which is this process's stdout/stderr).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path


def _die_with_parent() -> None:
    """On Linux, end this cell process when the `radbench run` that started it dies, so a
    killed run never leaves a cell training on behind the next run's back."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m radbench.train.worker CELL_DIR", file=sys.stderr)
        return 2
    directory = Path(argv[0])
    _die_with_parent()
    from radbench.store import CellDir

    try:
        from radbench.train.cell import run_cell

        result = run_cell(directory)
    except BaseException as exc:  # recorded, the grid goes on
        traceback.print_exc()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        kind = "out_of_memory" if "out of memory" in str(exc).lower() or isinstance(
            exc, MemoryError) else type(exc).__name__
        CellDir(directory).record_failure(f"{type(exc).__name__}: {message}"[:500], kind)
        return 1
    print(f"test AUC {result['test_auc']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
