"""`radbench weights export --format onnx`: any backbone radbench builds, with the weights of any
source, as an ONNX file that onnxruntime runs without radbench, Keras or a deep-learning
framework.

Keras writes ONNX from its torch backend (`Model.export(format="onnx")`), while radbench's own
process runs TensorFlow: the backbone's weights are saved as a Keras 3 `.weights.h5`, a child
process with `KERAS_BACKEND=torch` builds the same backbone, loads them and exports it, and the
parent runs the file with onnxruntime on the check's images against the Keras features it
computed itself. Nothing is written unless they agree within the tolerance. The ONNX graph takes
NHWC float32 images preprocessed as the weights expect, at the size it was exported for (the
batch size is free), and returns the pooled features.

    python -m radbench.models.onnx_export BACKBONE SIZE WEIGHTS.weights.h5 PIXELS.npy OUT.onnx
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from radbench.errors import ConfigError


def check_available() -> None:
    """onnx and onnxruntime importable (and torch, whose Keras backend writes the file)."""
    missing = [name for name in ("torch", "onnx", "onnxruntime")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"weights export --format onnx needs {', '.join(missing)} "
                          f"(pip install 'radbench[export]')")


def write_onnx(base, backbone: str, pixels: np.ndarray, expected: np.ndarray, out: Path,
               tolerance: float) -> tuple[float, float]:
    """Export `base` (built by radbench, weights loaded) to `out` through a torch-backend child
    process; returns (largest feature difference, the features' scale) measured with
    onnxruntime. Raises ConfigError, writing nothing, when they disagree."""
    import onnxruntime

    from radbench.atomic import written_beside

    with tempfile.TemporaryDirectory(prefix="radbench-onnx-") as folder:
        weights = Path(folder) / "backbone.weights.h5"
        base.save_weights(weights)
        np.save(Path(folder) / "pixels.npy", pixels)
        exported = Path(folder) / "backbone.onnx"
        env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-m", "radbench.models.onnx_export", backbone,
                               str(pixels.shape[1]), str(weights), str(Path(folder) /
                                                                       "pixels.npy"),
                               str(exported)], env=env, capture_output=True, text=True)
        if done.returncode != 0 or not exported.is_file():
            said = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"weights export --format onnx {backbone}: the torch backend "
                              f"could not write the ONNX file ({said[:200]})")
        session = onnxruntime.InferenceSession(str(exported),
                                               providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        got = session.run(None, {name: pixels.astype("float32")})[0]
        difference = float(np.max(np.abs(got - expected)))
        scale = float(np.max(np.abs(expected)))
        if not difference / max(scale, 1e-12) <= tolerance:
            raise ConfigError(f"weights export {backbone} --format onnx: onnxruntime's features "
                              f"differ from Keras' by {difference:.3g} ({difference / scale:.2g} "
                              f"of their scale {scale:.3g}), above the tolerance "
                              f"{tolerance:g}; nothing written")
        with written_beside(out) as partial:
            Path(partial).write_bytes(exported.read_bytes())
    return difference, scale


def main(argv: list[str]) -> int:
    """The child: build, load, call once, export (under KERAS_BACKEND=torch)."""
    import warnings

    backbone, size, weights, pixels, out = argv
    warnings.simplefilter("ignore")  # torch's tracer warnings on Keras' shape checks
    import keras

    from radbench.models.backbones import get_backbone

    base = get_backbone(backbone).build(int(size))
    base.load_weights(weights)
    base(np.load(pixels)[:1])  # Keras exports a model that has been called
    base.export(out, format="onnx", verbose=False)
    return 0 if keras.backend.backend() == "torch" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
