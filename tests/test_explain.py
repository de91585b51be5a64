"""`radbench doctor` and `radbench list` (issue 28): what radbench is, holds and needs, from
its registries and the machine, in fresh processes as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from radbench.config.load import shipped_names
from radbench.metrics import METRICS
from radbench.models import BACKBONES
from tests.conftest import REPO


def radbench(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radbench.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **env}, timeout=300)


def test_doctor_json_names_versions_folders_extras_and_problems_with_fixes(tmp_path):
    done = radbench("doctor", "--json", "--no-devices", RADBENCH_CACHE=str(tmp_path / "cache"),
                    KERAS_HOME=str(tmp_path / "keras"), RADBENCH_HOME=str(tmp_path / "home"))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    from radbench import __version__

    assert report["radbench"] == __version__ and report["backend"] == "tensorflow"
    assert report["versions"]["keras"] and report["cache"]["path"] == str(tmp_path / "cache")
    assert report["cache"]["writable"] and set(report["extras"]) >= {"jax", "mlflow", "slurm"}
    assert all(set(e) == {"installed", "enables"} for e in report["extras"].values())
    (missing,) = [p for p in report["problems"] if "RadImageNet" in p["problem"]]
    assert "radbench weights import radimagenet" in missing["fix"]


def test_doctor_reports_a_backend_that_is_not_installed_as_a_problem():
    done = radbench("doctor", "--json", KERAS_BACKEND="theano")
    assert done.returncode == 0, done.stderr[-2000:]
    (problem,) = [p for p in json.loads(done.stdout)["problems"] if "theano" in p["problem"]]
    assert problem["fix"]


@pytest.mark.slow  # starts the backend
def test_doctor_lists_the_devices_the_backend_sees():
    done = radbench("doctor")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CPU" in done.stdout.splitlines()[1] and "Traceback" not in done.stderr


def test_list_prints_each_registry_as_it_is():
    listed = {what: json.loads(radbench("list", what, "--json").stdout)
              for what in ("backbones", "tasks", "grids", "sources", "metrics")}
    assert [r["name"] for r in listed["backbones"]] == list(BACKBONES)
    paper = [r["name"] for r in listed["backbones"] if r["paper"]]
    assert paper == ["InceptionV3", "ResNet50", "DenseNet121", "InceptionResNetV2"]
    assert [r["name"] for r in listed["tasks"]] == shipped_names("tasks")
    assert [r["name"] for r in listed["grids"]] == shipped_names("grids")
    assert [r["name"] for r in listed["sources"]] == ["scratch", "imagenet", "radimagenet",
                                                      "file:PATH"]
    assert [r["name"] for r in listed["metrics"]] == list(METRICS)
    breast = next(r for r in listed["tasks"] if r["name"] == "breast")
    assert breast["classes"] == ["benign", "malignant"] and breast["split"] == "published"
    text = radbench("list", "backbones").stdout.splitlines()
    assert text[0].startswith("InceptionV3: min_size 75; paper True")
    wrong = radbench("list", "datasets")
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        "error: radbench list 'datasets': expected one of backbones, tasks, grids, sources, "
        "metrics")
