"""Keeping the backend's native log lines (TensorFlow's absl/oneDNN/XLA banners, written by C++
straight to file descriptor 2) off the terminal of radbench's own process. Cell processes keep
theirs: they go to each cell's log.txt."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null inside the block (Python's own `sys.stderr` is
    flushed first and restored after, so an exception raised inside still prints)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (captured, closed)
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_backend_quietly() -> None:
    """Import Keras and its backend (TensorFlow by default) with their start-up lines silenced;
    later imports are free."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import keras

        keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # the first op prints more banners
