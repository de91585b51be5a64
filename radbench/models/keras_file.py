"""Copying the backbone weights of a Keras 3 `.keras` file into a built backbone."""

from __future__ import annotations

from radbench.errors import ConfigError


def load_keras_file_into(base, path) -> None:
    """Copy the backbone weights of a `.keras` file into `base`. The file is opened with Keras'
    safe mode (no Lambda code is ever run); its model is the notop backbone itself or a model
    holding it (e.g. a whole radbench classifier). Any mismatch is a ConfigError."""
    import keras

    try:
        loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, TypeError, OSError...
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"{path}: cannot open this .keras file in safe mode: {first}") from None
    nested = [layer for layer in loaded.layers if isinstance(layer, keras.Model)]
    candidate = nested[0] if len(nested) == 1 else loaded
    ours, theirs = base.get_weights(), candidate.get_weights()
    shapes_ours = [w.shape for w in ours]
    shapes_theirs = [w.shape for w in theirs]
    if shapes_ours != shapes_theirs:
        raise ConfigError(f"{path}: its model ({candidate.name}, {len(theirs)} weight arrays) "
                          f"does not match the notop {base.name} ({len(ours)} arrays); expected "
                          f"a file saved from the same backbone")
    base.set_weights(theirs)
