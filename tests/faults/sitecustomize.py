"""Faults injected into cell processes by the tests (no CPU test can exhaust a GPU).

A test puts this folder first on PYTHONPATH, so that every Python process it starts imports this
module at start-up, and sets:

- RADBENCH_TEST_OOM_ABOVE_BATCH=N: a cell trained with a batch above N raises the error a GPU out
  of memory raises, before any training; everything after it is radbench's real path.
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
