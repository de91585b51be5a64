"""What a result was computed with: library versions and the device."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    import keras

    backend = keras.config.backend()
    backend_package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    tf_version = _version("tensorflow") or _version("tensorflow-cpu")
    return {
        "radbench": _version("radbench"),
        "python": sys.version.split()[0],
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": tf_version if backend == "tensorflow" else _version(backend_package),
        "numpy": _version("numpy"),
        "scikit-learn": _version("scikit-learn"),
        "platform": platform.platform(),
        **({"run_eagerly": True} if run_eagerly() else {}),
    }


def run_eagerly() -> bool:
    """`RADBENCH_RUN_EAGERLY=1`: cells train and predict without tracing a graph (Keras'
    `run_eagerly`; radbench.train.reuse compiles with it). The same arithmetic, step by step;
    for tiny runs, where tracing costs more than the epochs (a 64 px MobileNetV3Small fit of 48
    images here: 4.5 s eager against 14.6 s traced), and for debugging."""
    return os.environ.get("RADBENCH_RUN_EAGERLY", "").strip().lower() in ("1", "true", "yes")


def device() -> str:
    """A short description of the accelerator the backend uses, or the CPU."""
    import keras

    backend = keras.config.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"GPU: {details.get('device_name', gpus[0].name)}"
        elif backend == "jax":
            import jax

            first = jax.devices()[0]
            if first.platform != "cpu":
                return f"{first.platform.upper()}: {first.device_kind}"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"GPU: {torch.cuda.get_device_name(0)}"
    except Exception:  # device discovery must never fail a result
        pass
    return f"CPU: {platform.processor() or platform.machine()}"
