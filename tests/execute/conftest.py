"""A real one-machine Slurm cluster for the Slurm executor's tests (session scope)."""

from __future__ import annotations

import getpass
import subprocess

import pytest

from tests.conftest import cell_record
from tests.execute.slurm_cluster import LocalSlurmCluster, ensure_installed


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    why = ensure_installed()
    if why:
        pytest.skip(f"no Slurm cluster for this test: {why}")
    cluster = LocalSlurmCluster(tmp_path_factory.mktemp("slurm"), gpus=2)
    try:
        cluster.start()
    except (RuntimeError, OSError) as exc:
        cluster.stop()
        pytest.skip(f"could not start a local Slurm cluster: {exc}")
    yield cluster
    subprocess.run(["scancel", "-u", getpass.getuser()], env=cluster.env, capture_output=True)
    cluster.stop()


def write_cell(out, cell_id: str = "c0", lr: float = 1e-3):
    """A cell directory with a real cell.json (no data behind it)."""
    from radbench.config.schema import Training
    from radbench.cellspec import Cell
    from radbench.store import RunDir

    directory = RunDir(out).cell(cell_id)
    cell = Cell("demo", "scratch", "MobileNetV3Small", "freezeall", lr, 0, 0,
                Training(image_size=32, batch_size=16, epochs=1))
    directory.write_config(cell_record(cell, cell_id))
    return directory


HOLD_LOCK = """
import sys, time
from pathlib import Path
from radbench.execute.lock import FileLock
lock = FileLock(Path(sys.argv[1]))
assert lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def lock_holder():
    """Start a process that holds a lock file until killed; returns a starter."""
    import sys

    started = []

    def start(path):
        process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "held"
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()
