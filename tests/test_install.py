"""radbench installed as a user installs it (scripts/check_wheel.sh): the wheel into a fresh
virtual environment outside the checkout, then --version, grid show, task init on a class-folder
set, a two-cell run, status and report from an empty folder. Slow: it installs TensorFlow (from
pip's cache, about a minute here)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_the_wheel_works_outside_the_checkout(tmp_path, eager):
    """The two cells train untraced (`eager`, passed on through the environment): what this test
    is about is the installed package, not the traced step."""
    done = subprocess.run(["bash", str(REPO / "scripts" / "check_wheel.sh"), str(tmp_path)],
                          capture_output=True, text=True, timeout=1500)
    if done.returncode != 0 and "No matching distribution" in done.stderr:
        pytest.skip("pip cannot reach a package index here")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert done.stdout.startswith("radbench 0.1.0")
    assert "240 cell(s) of grid full" in done.stderr  # the summary line, beside the cells
    assert "2 cell(s): 0 already done, 2 done now" in done.stderr
    assert (tmp_path / "run" / "report.html").is_file()
    assert not (tmp_path / "configs").exists()  # the configs came from the package


def test_torch_torchvision_and_timm_import_together():
    """The test environment has torch, torchvision and timm from matching builds (as `pip install
    'radbench[export]'` gives them): torchvision's compiled operators load beside torch, also in
    a process where radbench and the TensorFlow backend came first (triton, which PyPI's torch
    brings, crashes when it loads after TensorFlow unless radbench loaded it first)."""
    import subprocess
    import sys

    code = ("import importlib.util, sys\n"
            "if importlib.util.find_spec('torch') is None: sys.exit(3)\n"
            "import radbench, keras\n"
            "keras.ops.zeros(1)\n"
            "import torchvision, timm, torchvision.ops\n"
            "print(torchvision.ops.nms.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    if done.returncode == 3:
        pytest.skip("torch is not installed here (make test installs it)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "torchvision.ops.boxes"
