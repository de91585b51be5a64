"""Faults injected into cell processes by the tests (no CPU test can exhaust a GPU).

A test puts this folder first on PYTHONPATH, so that every Python process it starts imports this
module at start-up, and sets:

- RADBENCH_TEST_OOM_ABOVE_BATCH=N: a cell trained with a batch above N raises the error a GPU out
  of memory raises, before any training; everything after it is radbench's real path.
- RADBENCH_TEST_DIVERGE_LR=A,B,...: a cell with one of these learning rates fails as a cell that
  diverged fails (its own failure, not the machine's: it stays failed until --retry-failed).
  Weights that cannot train no longer reach a cell (radbench.models.verify stops the run).
"""

import os

_limit = os.environ.get("RADBENCH_TEST_OOM_ABOVE_BATCH")
if _limit:
    import radbench.train.cell as _cell

    _real_fit = _cell.fit_and_predict

    def _fit_or_run_out_of_memory(cell, *args, **kwargs):
        if cell.training.batch_size > int(_limit):
            raise MemoryError(f"out of memory at batch size {cell.training.batch_size} "
                              f"(injected by tests/faults: RADBENCH_TEST_OOM_ABOVE_BATCH={_limit})")
        return _real_fit(cell, *args, **kwargs)

    _cell.fit_and_predict = _fit_or_run_out_of_memory

_diverge = os.environ.get("RADBENCH_TEST_DIVERGE_LR")
if _diverge:
    import radbench.train.cell as _cell

    _rates = {float(rate) for rate in _diverge.split(",")}
    _fit_before = _cell.fit_and_predict

    def _fit_or_diverge(cell, *args, **kwargs):
        if cell.lr in _rates:
            raise FloatingPointError(f"the training loss became NaN at lr {cell.lr:g} (injected "
                                     f"by tests/faults: RADBENCH_TEST_DIVERGE_LR={_diverge})")
        return _fit_before(cell, *args, **kwargs)

    _cell.fit_and_predict = _fit_or_diverge
