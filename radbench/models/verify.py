"""Weights checked before the first cell: loaded into the backbone, and finite.

`radbench.models.sources.check_source` looks at the file (it exists, is HDF5 or a Keras zip, is
whole); this loads it into each backbone of the grid once, in the process that starts the run,
so that a file of another architecture or one filled with NaN stops the run with one line
(exit 2) instead of failing every cell with exit 1. A verdict is kept per file content
(SHA-256), backbone and Keras version under the cache, so a later run of the same weights
does not build the backbone again.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from radbench.atomic import atomic_write_json
from radbench.errors import ConfigError
from radbench.models.backbones import get_backbone
from radbench.models.sources import resolve_source


def _first_line(exc: BaseException) -> str:
    """Keras' own first sentence of a failed load ("A total of 86 objects could not be
    loaded"), without its example."""
    text = str(exc).strip().splitlines()
    line = (text[0] if text else type(exc).__name__).split(". Example error message")[0]
    return line.rstrip(" :.")[:200]


def verify_weights(source: str, backbone: str, record_dir: Path | None = None) -> None:
    """Raise ConfigError when `source`'s weights for `backbone` do not load into it or hold a
    non-finite value. Sources without a weights file (scratch) pass."""
    resolved = resolve_source(source, backbone)
    if resolved.weights is None:
        return
    from radbench.quiet import import_backend_quietly

    import_backend_quietly()  # in radbench's own process: its terminal stays clean
    import keras

    record = None
    if record_dir is not None:
        record = Path(record_dir) / f"{resolved.sha256}-{backbone}-{keras.__version__}.json"
        if record.is_file():
            return
    entry = get_backbone(backbone)
    try:
        with warnings.catch_warnings():  # Keras warns per layer it skips: the error says it
            warnings.simplefilter("ignore")
            base = entry.build(entry.min_size, weights=resolved.weights)
    except Exception as exc:  # Keras says "layer count mismatch", "shape mismatch", ...
        raise ConfigError(
            f"source {source!r}: {resolved.weights} does not load into {backbone} "
            f"({type(exc).__name__}: {_first_line(exc)}); expected {backbone}'s notop weights "
            f"(another architecture's file?)") from None
    bad = [w.path for w in base.weights
           if not np.isfinite(keras.ops.convert_to_numpy(w)).all()]
    keras.backend.clear_session()
    if bad:
        raise ConfigError(
            f"source {source!r}: {resolved.weights} holds non-finite values (NaN or infinity) "
            f"in {len(bad)} of {len(base.weights)} weight arrays of {backbone}, the first "
            f"{bad[0]}; every cell starting from it would fail (`radbench weights inspect` "
            f"lists them)")
    if record is not None:
        try:
            atomic_write_json(record, {"source": source, "weights": resolved.weights,
                                       "backbone": backbone, "sha256": resolved.sha256,
                                       "keras": keras.__version__, "verdict": "loads, finite"})
        except OSError:
            pass  # only a shortcut for the next run
    return None


def verified_record(record: Path) -> dict | None:
    """A kept verdict, for people and tests."""
    try:
        return json.loads(Path(record).read_text())
    except (OSError, ValueError):
        return None
