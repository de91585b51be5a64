"""Shared fixtures: seeds, a private image cache, the real datasets, small generated data."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

import radbench  # noqa: F401  (first: it loads triton before any test loads TensorFlow)

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RADBENCH_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test; set RADBENCH_SLOW=1 to run it (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Image caches of the tests never touch the user's ~/.cache."""
    previous = os.environ.get("RADBENCH_CACHE")
    os.environ["RADBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    yield
    if previous is None:
        os.environ.pop("RADBENCH_CACHE", None)
    else:
        os.environ["RADBENCH_CACHE"] = previous


def shared_data_root() -> Path | None:
    root = Path(os.environ.get("RADBENCH_TEST_DATA", REPO.parent / "shared" / "data"))
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets (../shared/data or $RADBENCH_TEST_DATA); skip if absent."""
    root = shared_data_root()
    if root is None:
        pytest.skip("real test data not found: set RADBENCH_TEST_DATA or place ../shared/data")
    return root


@pytest.fixture(scope="session")
def busi_root(shared_data) -> Path:
    root = shared_data / "busi" / "Dataset_BUSI_with_GT"
    if not root.is_dir():
        pytest.skip(f"BUSI not found at {root}")
    return root


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory) -> Path:
    """A small phantom ultrasound dataset (csv layout with patients and masks)."""
    from radbench.data.phantom import generate_phantom

    return generate_phantom(tmp_path_factory.mktemp("phantom") / "data", patients_per_class=10,
                            images_per_patient=3, size=64)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 900):
    """Run `radbench ARGS` in a fresh process, as a user would; returns CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "radbench.cli", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=timeout)


def foreign_weights(path: Path) -> Path:
    """A readable HDF5 file that holds no Keras weights: it passes the check before training
    (radbench.models.sources), and every cell starting from it fails the same way."""
    import h5py

    with h5py.File(path, "w") as handle:
        handle.create_dataset("not_a_layer", data=np.zeros(3))
    return path


def cell_record(cell, cell_id: str | None = None, grid: str = "test"):
    """A whole cell.json record (radbench.cellspec.CellConfig) for a cell made by a test: the
    shipped task of the cell's task name (demo's where none is shipped), no data behind it."""
    from radbench.cellspec import CellConfig, CellData
    from radbench.config.load import load_task
    from radbench.errors import ConfigError

    try:
        task = load_task(cell.task)[0]
    except ConfigError:
        task = load_task("demo")[0].model_copy(update={"name": cell.task})
    return CellConfig(cell_id=cell_id, cell=cell, grid=grid, task=task,
                      data=CellData(root="/nonexistent", data_id="d0"))


EAGER = "RADBENCH_RUN_EAGERLY"


@pytest.fixture
def eager(monkeypatch):
    """The cells this test runs train without tracing a graph (RADBENCH_RUN_EAGERLY=1, passed
    to every cell process): for tests about what runs, stores and reports cells. The traced
    step is what tests/train, the demo, the MedMNIST reference and the chaos test run."""
    monkeypatch.setenv(EAGER, "1")
