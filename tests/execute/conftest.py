"""A real one-machine Slurm cluster for the Slurm executor's tests (session scope)."""

from __future__ import annotations

import getpass
import subprocess

import pytest

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
