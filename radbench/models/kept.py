"""Opening a kept model (a cell's model.keras): Keras' safe mode, radbench's layers registered."""

from __future__ import annotations

from pathlib import Path

from radbench.errors import ConfigError


def load_model_file(path: Path):
    """The model saved at `path` (radbench.train.cell.save_model), uncompiled; a ConfigError
    names the file when it cannot be loaded."""
    from radbench.quiet import import_backend_quietly

    import_backend_quietly()
    import keras

    import radbench.models.augment  # noqa: F401 - registers RandomAffine
    import radbench.models.preprocess  # noqa: F401 - registers ChannelNormalization

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, OSError, zipfile errors
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"{path}: cannot be loaded: {first}") from None
