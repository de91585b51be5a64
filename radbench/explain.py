"""`radbench doctor` and `radbench list`: the tool says what it is, what it holds and what it
needs, from its registries and the machine, without a run.

`doctor` gathers versions (radbench, Python, Keras, each backend installed), the backend Keras
will use and the devices it sees, the cache and weights folders with what they hold, the
optional extras installed and what each enables, and one line per problem with its fix.
`list` prints a registry (backbones, tasks, grids, sources, metrics) with what each entry needs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from radbench.errors import ConfigError

# extra → (modules it installs, what it enables)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "jax": (("jax",), "KERAS_BACKEND=jax (XLA-compiled cells, the persistent compile cache)"),
    "torch": (("torch",), "KERAS_BACKEND=torch"),
    "export": (("torch", "torchvision", "timm"), "radbench weights export --format "
               "torchvision|timm"),
    "mlflow": (("mlflow", "sqlalchemy", "alembic"), "radbench export mlflow (SQLite store)"),
    "tensorboard": (("tensorboard",), "radbench run --tensorboard"),
    "slurm": (("submitit",), "radbench run --executor slurm (with sbatch on PATH)"),
    "dicom": (("pydicom",), "DICOM images (.dcm)"),
}
PACKAGES = ("keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "numpy",
            "pandas", "scikit-learn")
LISTS = ("backbones", "tasks", "grids", "sources", "metrics")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _folder(path: Path) -> dict[str, Any]:
    """A folder as doctor shows it: where, whether it exists and can be written, its size."""
    from radbench.writable import check_writable

    size, files = 0, 0
    if path.is_dir():
        for root, _, names in os.walk(path):
            for name in names:
                try:
                    size += (Path(root) / name).stat().st_size
                    files += 1
                except OSError:
                    pass
    try:
        check_writable(path, str(path))
        writable = True
    except ConfigError:
        writable = False
    return {"path": str(path), "exists": path.is_dir(), "writable": writable, "files": files,
            "bytes": size}


def _devices(backend: str) -> list[str]:
    """The devices the backend sees (it is imported, quietly)."""
    from radbench.quiet import import_backend_quietly

    import_backend_quietly()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices()]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    import torch

    return ["cpu"] + [f"cuda:{i} {torch.cuda.get_device_name(i)}"
                      for i in range(torch.cuda.device_count())]


def doctor(devices: bool = True) -> dict[str, Any]:
    """Everything `radbench doctor` shows, as one JSON-ready dict; `problems` holds one
    {"problem", "fix"} per thing that stops or weakens a run."""
    from radbench import __version__
    from radbench.data.cache import default_cache_root
    from radbench.models.weights import keras_models_dir, radimagenet_dir, weights_status
    from radbench.quiet import check_backend

    problems: list[dict[str, str]] = []
    try:
        backend = check_backend()
    except ConfigError as exc:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        problems.append({"problem": str(exc), "fix": "pip install 'radbench[cpu]' (TensorFlow) "
                         "or set KERAS_BACKEND to an installed backend"})
    seen: list[str] = []
    if devices and not problems:
        try:
            seen = _devices(backend)
        except Exception as exc:  # noqa: BLE001 - a broken install is what doctor reports
            problems.append({"problem": f"the {backend} backend does not start "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                             "fix": "reinstall it, or choose another KERAS_BACKEND"})
    if devices and seen and not any("GPU" in d.upper() or "cuda" in d for d in seen):
        problems.append({"problem": "no GPU visible: cells train on the CPU (fine for the demo "
                         "and smoke grids, days for the paper's grids)",
                         "fix": "check CUDA_VISIBLE_DEVICES and the GPU build of the backend "
                         "(pip install 'radbench[tensorflow]' or the jax/torch CUDA wheels)"})
    weights = weights_status()
    rad = [w for w in weights if w["source"] == "radimagenet"]
    if not any(w["state"] == "ok" for w in rad):
        problems.append({"problem": "no RadImageNet weights imported: the radimagenet source is "
                         "unavailable", "fix": "download the authors' files and run `radbench "
                         "weights import radimagenet FOLDER`"})
    cache = _folder(default_cache_root())
    if not cache["writable"]:
        problems.append({"problem": f"the cache folder {cache['path']} cannot be written",
                         "fix": "set RADBENCH_CACHE to a writable folder"})
    extras = {name: {"installed": all(_installed(m) for m in modules), "enables": what}
              for name, (modules, what) in EXTRAS.items()}
    extras["slurm"]["installed"] = extras["slurm"]["installed"] and bool(shutil.which("sbatch"))
    return {
        "radbench": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "backend": backend,
        "versions": {p: v for p in PACKAGES if (v := _version(p)) is not None},
        "devices": seen,
        "cache": cache,
        "weights": {"keras_models": str(keras_models_dir()), "radimagenet": str(radimagenet_dir()),
                    "present": [f"{w['source']} {w['backbone']}" for w in weights
                                if w["state"] == "ok"],
                    "missing": [f"{w['source']} {w['backbone']}" for w in weights
                                if w["state"] != "ok"]},
        "extras": extras,
        "problems": problems,
    }


def doctor_lines(report: dict[str, Any]) -> list[str]:
    """`radbench doctor` for people."""
    cache = report["cache"]
    lines = [f"radbench {report['radbench']}, Python {report['python']}",
             f"backend: {report['backend']} (KERAS_BACKEND); devices: "
             f"{', '.join(report['devices']) or 'not asked'}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
             f"cache: {cache['path']} ({cache['files']} files, {cache['bytes'] / 1e6:.0f} MB"
             f"{'' if cache['writable'] else ', NOT writable'})",
             f"weights present: {', '.join(report['weights']['present']) or 'none'}",
             "extras: " + ", ".join(f"{name} {'yes' if e['installed'] else 'no'}"
                                    for name, e in report["extras"].items())]
    if report["problems"]:
        lines.append(f"{len(report['problems'])} problem(s):")
        lines += [f"- {p['problem']}; fix: {p['fix']}" for p in report["problems"]]
    else:
        lines.append("no problem found")
    return lines


def registry_rows(what: str) -> list[dict[str, Any]]:
    """The rows of `radbench list WHAT`."""
    if what == "backbones":
        from radbench.models import BACKBONES
        from radbench.models.weights import weights_status

        present = {(w["source"], w["backbone"]) for w in weights_status() if w["state"] == "ok"}
        return [{"name": name, "min_size": b.min_size, "paper": b.paper, "params_m": b.params_m,
                 "imagenet": "present" if ("imagenet", name) in present else
                 ("downloadable" if b.imagenet else "none"),
                 "radimagenet": "present" if ("radimagenet", name) in present else
                 ("importable" if b.radimagenet_file else "none")}
                for name, b in BACKBONES.items()]
    if what in ("tasks", "grids"):
        from radbench.config.load import load_grid, load_task, shipped_names

        rows = []
        for name in shipped_names(what):
            config = (load_task if what == "tasks" else load_grid)(name)[0]
            row = {"name": name, "description": config.description}
            if what == "tasks":
                row.update(classes=list(config.classes.names), split=config.split.scheme,
                           adapter=config.data.adapter)
            else:
                row.update(sources=list(config.sources), backbones=list(config.backbones),
                           settings=sum(len(s.rates) for s in config.settings))
            rows.append(row)
        return rows
    if what == "sources":
        return [{"name": "scratch", "needs": "nothing (random initial weights)"},
                {"name": "imagenet", "needs": "Keras' ImageNet files (`radbench weights fetch "
                 "imagenet`, or downloaded by Keras on first use)"},
                {"name": "radimagenet", "needs": "the authors' RadImageNet files (`radbench "
                 "weights import radimagenet FOLDER`)"},
                {"name": "file:PATH", "needs": "a notop weights file (.h5, .weights.h5, .keras); "
                 "{backbone} in PATH names one file per backbone"}]
    if what == "metrics":
        from radbench.metrics import METRICS

        return [{"name": name, "label": m.label, "higher_is_better": m.higher_is_better,
                 "at_threshold": m.thresholded} for name, m in METRICS.items()]
    raise ConfigError(f"radbench list {what!r}: expected one of {', '.join(LISTS)}")
