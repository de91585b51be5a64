"""Executor slots from --gpus and --max-parallel."""

from __future__ import annotations

import pytest

from radbench.errors import ConfigError
from radbench.execute.slots import Slot, detect_gpus, make_slots


def test_gpu_ids_give_one_slot_each_with_only_that_gpu_visible(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    slots = make_slots("0,1,2,3")
    assert [s.name for s in slots] == ["gpu0", "gpu1", "gpu2", "gpu3"]
    env = slots[2].environment()
    assert env["CUDA_VISIBLE_DEVICES"] == "2" and env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" and env["RADBENCH_SLOT"] == "gpu2"
    assert [s.name for s in make_slots("0,0,1")] == ["gpu0.1", "gpu0.2", "gpu1"]
    assert len(make_slots("0,1,2,3", max_parallel=2)) == 2


def test_cpu_slots_hide_every_gpu():
    slots = make_slots("cpu", max_parallel=2)
    assert slots == [Slot("cpu0"), Slot("cpu1")]
    assert slots[0].environment()["CUDA_VISIBLE_DEVICES"] == ""


def test_auto_uses_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert detect_gpus() == ["3", "5"]
    assert [s.gpu for s in make_slots("auto")] == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert make_slots("auto", max_parallel=2) == [Slot("cpu0"), Slot("cpu1")]


@pytest.mark.parametrize("spec", ["gpu0", "0,a", ","])
def test_bad_gpu_lists_are_one_line_errors(spec):
    with pytest.raises(ConfigError, match="--gpus"):
        make_slots(spec)


def test_gpu_ids_the_machine_does_not_have_are_refused(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(ConfigError, match=r"^--gpus 1,7,9: no GPU 7,9 on this machine "
                                          r"\(visible: 0,1\)"):
        make_slots("1,7,9")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ConfigError, match=r"no GPU 0 on this machine \(visible: none\)"):
        make_slots("0")
