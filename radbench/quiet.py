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
    check_backend()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import keras

        keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # the first op prints more banners


BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _configured_backend() -> str:
    """The backend of Keras' own config file ($KERAS_HOME or ~/.keras, keras.json), else
    tensorflow: what Keras itself uses when $KERAS_BACKEND is not set."""
    import json
    from pathlib import Path

    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        value = json.loads((home / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        value = None
    return value if isinstance(value, str) and value else "tensorflow"


def check_backend() -> str:
    """The Keras backend the cells will use ($KERAS_BACKEND, default tensorflow), checked
    without importing it: a name Keras does not train with, or one not installed, raises
    ConfigError before any cell starts (each cell would otherwise fail on its own)."""
    import importlib.util

    from radbench.errors import ConfigError

    backend = os.environ.get("KERAS_BACKEND", "").strip() or _configured_backend()
    if backend not in BACKEND_MODULES:
        raise ConfigError(f"KERAS_BACKEND={backend!r}: radbench trains with "
                          f"{', '.join(BACKEND_MODULES)}; unset it or name one of them")
    if importlib.util.find_spec(BACKEND_MODULES[backend]) is None:
        raise ConfigError(f"KERAS_BACKEND={backend}: the {backend} package is not installed "
                          f"in this environment ({sys.executable}); install it or choose "
                          f"another backend")
    return backend
