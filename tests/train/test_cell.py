"""Fitting one cell on a tiny real model: best-val-loss weights, predictions, batches."""

import os
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from radbench.config.schema import Augmentation, Training
from radbench.cellspec import Cell
from radbench.train.batches import CachedBatches
from radbench.train.cell import fit_and_predict
from radbench.execute.worker import backend_environment

PAPER_AUG = Augmentation(rotation_degrees=10, width_shift=0.1, height_shift=0.1,
                         shear_degrees=0.1, zoom=0.1, horizontal_flip=True)


def tiny_problem(n=24, size=32):
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * (n // 2))
    images = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    images[y == 1, 8:24, 8:24] = 200  # a bright square marks the positive class
    parts = ["train"] * (n - 8) + ["val"] * 4 + ["test"] * 4
    split = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "row": np.arange(n),
                          "part": parts, "y": y})
    return images, split


@pytest.mark.slow  # in CI; the default suite's budget (5 min) is spent
def test_fit_and_predict_keeps_the_best_val_loss_epoch():
    images, split = tiny_problem()
    training = Training(image_size=32, batch_size=8, epochs=3, augmentation=PAPER_AUG)
    cell = Cell("t", "scratch", "MobileNetV3Small", "unfreezeall", 1e-3, 0, 0, training)
    outcome = fit_and_predict(cell, images, split, None, verbose=0)
    history = outcome["history"]
    assert list(history["epoch"]) == [1, 2, 3]
    assert outcome["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    assert outcome["best_val_loss"] == pytest.approx(history["val_loss"].min(), rel=1e-6)
    assert outcome["test_scores"].shape == (4,)
    assert ((outcome["test_scores"] >= 0) & (outcome["test_scores"] <= 1)).all()
    assert outcome["n"] == {"train": 16, "val": 4, "test": 4}
    assert outcome["timings"]["first_epoch_s"] > 0


def test_batches_shuffle_per_epoch_and_cover_every_row():
    images = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
    batches = CachedBatches(images, np.arange(10), np.array([0, 1] * 5), 4, shuffle=True, seed=0)
    assert len(batches) == 3
    first = np.concatenate([batches[i][0][:, 0, 0, 0] for i in range(3)])
    batches.on_epoch_end()
    second = np.concatenate([batches[i][0][:, 0, 0, 0] for i in range(3)])
    assert sorted(first) == sorted(second) == sorted(images[:, 0, 0, 0])
    assert not np.array_equal(first, second)
    x, y = batches[0]
    assert x.dtype == np.uint8 and y.shape == (4, 2)  # the model casts


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_trains_under_other_backends(backend, tmp_path, monkeypatch):
    pytest.importorskip(backend)
    monkeypatch.setenv("RADBENCH_CACHE", str(tmp_path))
    code = (
        "import numpy as np, keras; from tests.train.test_cell import tiny_problem;"
        "from radbench.config.schema import Training; from radbench.cellspec import Cell;"
        "from radbench.train.cell import fit_and_predict;"
        "images, split = tiny_problem();"
        "from tests.train.test_cell import PAPER_AUG;"
        "t = Training(image_size=32, batch_size=8, epochs=1, augmentation=PAPER_AUG);"
        "o = fit_and_predict(Cell('t','scratch','MobileNetV3Small','unfreezetop10',1e-3,0,0,t),"
        " images, split, None, verbose=0);"
        "assert keras.config.backend() == '%s'; print(o['test_scores'].shape)" % backend
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    backend_environment(env)  # as a cell process sets it
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # tiny steps compile in < 1 s
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(4,)" in done.stdout
    if backend == "jax":  # the compiled steps went to the persistent cache
        assert list((tmp_path / "jax-compilation").iterdir())


def test_cell_process_environment_defaults_and_opt_outs(tmp_path, monkeypatch):
    monkeypatch.setenv("RADBENCH_CACHE", str(tmp_path))
    env = {}
    backend_environment(env)
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax-compilation")
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    own = {"JAX_COMPILATION_CACHE_DIR": "/elsewhere"}
    backend_environment(own)
    assert own["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere"
    off = {"RADBENCH_JAX_COMPILATION_CACHE": "off"}
    backend_environment(off)
    assert "JAX_COMPILATION_CACHE_DIR" not in off


@pytest.mark.slow  # two fits
def test_a_cell_run_eagerly_gives_the_traced_cells_predictions(monkeypatch):
    """RADBENCH_RUN_EAGERLY=1 (the tests' shortcut for tiny runs) is the same arithmetic as the
    traced step: same history, same test scores."""
    from radbench.provenance import versions

    images, split = tiny_problem()
    cell = Cell("t", "scratch", "MobileNetV3Small", "unfreezeall", 1e-3, 0, 0,
                Training(image_size=32, batch_size=8, epochs=2, augmentation=PAPER_AUG))
    traced = fit_and_predict(cell, images, split, None, verbose=0)
    assert "run_eagerly" not in versions()
    monkeypatch.setenv("RADBENCH_RUN_EAGERLY", "1")
    from radbench.train.reuse import build_compiled

    assert build_compiled(cell, None).run_eagerly  # the switch reaches the compiled model
    eager = fit_and_predict(cell, images, split, None, verbose=0)
    assert versions()["run_eagerly"] is True
    np.testing.assert_allclose(eager["test_scores"], traced["test_scores"], atol=1e-5)
    np.testing.assert_allclose(eager["history"]["val_loss"], traced["history"]["val_loss"],
                               rtol=1e-5)
