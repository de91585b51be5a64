"""Executor slots: one cell process per slot, on a GPU of its own or on the CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from radbench.errors import ConfigError


@dataclass(frozen=True)
class Slot:
    """Where one cell process runs: `gpu` is a CUDA device id, or None for the CPU."""

    name: str
    gpu: str | None = None

    def environment(self) -> dict[str, str]:
        """Variables for the cell process: its GPU only (or none), memory growth on."""
        env = {"RADBENCH_SLOT": self.name, "TF_FORCE_GPU_ALLOW_GROWTH": "true",
               "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
        env["CUDA_VISIBLE_DEVICES"] = self.gpu if self.gpu is not None else ""
        return env


def detect_gpus() -> list[str]:
    """CUDA device ids this process may use: $CUDA_VISIBLE_DEVICES if set, else `nvidia-smi`."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in listed.stdout.splitlines() if line.strip().isdigit()] \
        if listed.returncode == 0 else []


def make_slots(gpus: str | None = "auto", max_parallel: int | None = None) -> list[Slot]:
    """Slots from `--gpus`: 'auto' (every visible GPU, else the CPU), 'cpu', or ids like
    '0,1,2,3' (an id listed twice gives two slots on that GPU). `--max-parallel` caps the GPU
    slots, and sets the number of CPU slots (default 1)."""
    spec = (gpus or "auto").strip().lower()
    if spec == "auto":
        ids = detect_gpus()
    elif spec in ("cpu", "none"):
        ids = []
    else:
        ids = [part.strip() for part in spec.split(",") if part.strip()]
        bad = [i for i in ids if not i.isdigit()]
        if bad or not ids:
            raise ConfigError(f"--gpus {gpus!r}: expected 'auto', 'cpu' or device ids like "
                              f"0,1,2,3")
        visible = detect_gpus()
        absent = sorted({i for i in ids if i not in visible}, key=int)
        if absent:
            seen_as = ",".join(visible) if visible else "none"
            raise ConfigError(f"--gpus {gpus}: no GPU {','.join(absent)} on this machine "
                              f"(visible: {seen_as}); use --gpus auto or cpu, or ids it has")
    if max_parallel is not None and max_parallel < 1:
        raise ConfigError(f"--max-parallel {max_parallel}: expected at least 1")
    if not ids:
        return [Slot(f"cpu{i}") for i in range(max_parallel or 1)]
    seen: dict[str, int] = {}
    slots = []
    for gpu in ids:
        seen[gpu] = seen.get(gpu, 0) + 1
        slots.append(Slot(f"gpu{gpu}" + (f".{seen[gpu]}" if ids.count(gpu) > 1 else ""), gpu))
    return slots[:max_parallel] if max_parallel else slots
