"""Pretrained weight files: ImageNet (Keras' cache), RadImageNet (imported once), their status.

ImageNet weights are looked up under the exact names Keras applications use in
`$KERAS_HOME/models` (default `~/.keras/models`), checked against the MD5 Keras publishes, and
never downloaded in the middle of a grid: `radbench weights fetch imagenet` does that beforehand.
RadImageNet's Keras 2 files (`RadImageNet-<Arch>_notop.h5`) are checked by `radbench weights
import radimagenet DIR` to load into the matching Keras 3 architecture and stored with their
sha256 under `$RADBENCH_HOME/weights/radimagenet` (default `~/.radbench`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from radbench.errors import ConfigError
from radbench.ids import file_md5, file_sha256
from radbench.models.backbones import BACKBONES, Backbone, WeightFile, get_backbone


def keras_models_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models, default ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "models"


def radbench_home() -> Path:
    return Path(os.environ.get("RADBENCH_HOME") or Path.home() / ".radbench")


def radimagenet_dir() -> Path:
    return radbench_home() / "weights" / "radimagenet"


def _imagenet_entry(backbone: str) -> WeightFile:
    entry = get_backbone(backbone).imagenet
    if entry is None:
        raise ConfigError(f"source 'imagenet': no ImageNet weights known for {backbone}")
    return entry


def _published_digest(path: Path, entry) -> str:
    """The file's digest of the kind Keras publishes for it (MD5 or SHA-256)."""
    return file_sha256(path) if entry.hash_kind == "sha256" else file_md5(path)


def imagenet_file(backbone: str, verify: bool = True) -> Path:
    """The ImageNet notop file of `backbone`, present and intact; else ConfigError with the fix."""
    entry = _imagenet_entry(backbone)
    path = keras_models_dir() / entry.file
    fix = (f"run `radbench weights fetch imagenet --backbones {backbone}` on a machine with "
           f"network, or copy the file there from {entry.url}{entry.file}")
    if not path.is_file():
        raise ConfigError(f"source 'imagenet': {backbone} weights {path} not found; {fix}")
    digest = _published_digest(path, entry) if verify else entry.published_hash
    if digest != entry.published_hash:
        raise ConfigError(f"source 'imagenet': {path} has {entry.hash_kind.upper()} {digest}, "
                          f"Keras publishes {entry.published_hash} (damaged or another file); {fix}")
    return path


def network_cause(exc: BaseException) -> str:
    """The root cause of a failed download, whole: the innermost error of the chain, a URL
    error's reason ("[Errno -2] Name or service not known"), never a message cut mid-word."""
    import urllib.error

    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__


def fetch_imagenet(backbones: list[str]) -> list[Path]:
    """Download through Keras (which verifies its hashes) into the Keras cache."""
    import keras

    paths = []
    for backbone in backbones:
        entry = _imagenet_entry(backbone)
        try:
            path = keras.utils.get_file(entry.file, entry.url + entry.file, cache_subdir="models",
                                        file_hash=entry.published_hash,
                                        cache_dir=str(keras_models_dir().parent))
        except Exception as exc:  # noqa: BLE001 - Keras raises a bare Exception offline
            raise ConfigError(f"cannot download {entry.url}{entry.file} ({network_cause(exc)}); "
                              f"copy the file by hand to {keras_models_dir() / entry.file}") \
                from None
        paths.append(Path(path))
    return paths


def _radimagenet_index() -> dict:
    index = radimagenet_dir() / "index.json"
    return json.loads(index.read_text()) if index.is_file() else {}


def radimagenet_file(backbone: str) -> tuple[Path, str]:
    """The imported RadImageNet file for `backbone` and its recorded sha256."""
    entry = get_backbone(backbone)
    if entry.radimagenet_file is None:
        raise ConfigError(f"source 'radimagenet': RadImageNet has no {backbone} (only "
                          f"{', '.join(b.name for b in _radimagenet_backbones())})")
    arch = entry.radimagenet_arch
    entry = _radimagenet_index().get(backbone)
    path = radimagenet_dir() / get_backbone(backbone).radimagenet_file
    if entry is None or not path.is_file():
        raise ConfigError(f"source 'radimagenet': {backbone} weights not imported ({path} "
                          f"missing); run `radbench weights import radimagenet DIR` with the "
                          f"folder holding RadImageNet-{arch}_notop.h5")
    return path, entry["sha256"]


def _radimagenet_backbones() -> list[Backbone]:
    return [b for b in BACKBONES.values() if b.radimagenet_arch]


def _radimagenet_name() -> re.Pattern:
    """`RadImageNet-<Arch>_notop.h5` (or `-notop`) for every registered Arch."""
    archs = "|".join(re.escape(b.radimagenet_arch) for b in _radimagenet_backbones())
    return re.compile(rf"^RadImageNet[-_]({archs})[-_]notop\.h5$", re.IGNORECASE)


def _backbone_for_arch(arch: str) -> str:
    return next(name for name, b in BACKBONES.items()
                if (b.radimagenet_arch or "").lower() == arch.lower())


def check_loads(path: Path, backbone: str) -> None:
    """`path` loads into Keras 3's notop `backbone` with average pooling: same layers, same
    shapes. One ConfigError line for a truncated file, a full model, or another architecture."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            layers = [n.decode() if isinstance(n, bytes) else n
                      for n in group.attrs.get("layer_names", [])]
    except (OSError, KeyError) as exc:
        raise ConfigError(f"{path}: not a readable HDF5 weights file (truncated or damaged: "
                          f"{str(exc).splitlines()[0][:120]})") from None
    top = [n for n in layers if n in ("predictions", "fc1000", "probs", "dense", "logits")]
    if top:
        raise ConfigError(f"{path}: holds a full model with a classification top (layer "
                          f"{top[0]!r}); expected a notop file (include_top=False)")
    import warnings

    from radbench.quiet import import_backend_quietly, native_stderr_silenced

    import_backend_quietly()  # in radbench's own process: its terminal shows radbench's lines only
    try:
        with native_stderr_silenced(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # h5py, absl and Keras' notes on legacy files
            model = get_backbone(backbone).build(max(75, get_backbone(backbone).min_size))
            model.load_weights(str(path))
    except Exception as exc:  # noqa: BLE001 - Keras raises ValueError or others on mismatch
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"{path}: does not load into Keras' {backbone} (include_top=False, "
                          f"pooling='avg'): {first}; is it the file for another "
                          f"architecture?") from None


def import_radimagenet(folder: Path) -> list[dict]:
    """Check and store every `RadImageNet-<Arch>_notop.h5` in `folder`; returns what was stored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: folder not found")
    pattern = _radimagenet_name()
    found = sorted(p for p in folder.iterdir() if pattern.match(p.name))
    if not found:
        archs = ", ".join(b.radimagenet_arch for b in _radimagenet_backbones())
        raise ConfigError(f"{folder}: no RadImageNet-<Arch>_notop.h5 file (Arch: {archs})")
    checked = []
    for path in found:
        backbone = _backbone_for_arch(pattern.match(path.name).group(1))
        check_loads(path, backbone)
        checked.append((path, backbone))
    target_dir = radimagenet_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    index = _radimagenet_index()
    stored = []
    for path, backbone in checked:
        target = target_dir / get_backbone(backbone).radimagenet_file
        partial = target.with_suffix(".h5.part")
        shutil.copyfile(path, partial)
        partial.replace(target)
        entry = {"backbone": backbone, "file": str(target), "sha256": file_sha256(target),
                 "imported_from": str(path.resolve()), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        index[backbone] = entry
        stored.append(entry)
    from radbench.atomic import atomic_write_json

    atomic_write_json(target_dir / "index.json", index)
    return stored


RADIMAGENET_WHERE = (
    "RadImageNet's weights are the authors' Keras 2 files RadImageNet-InceptionV3_notop.h5, "
    "-ResNet50_notop.h5, -DenseNet121_notop.h5 and -IRV2_notop.h5, released through the "
    "download link in the README of https://github.com/BMEII-AI/RadImageNet (Mei et al., "
    "Radiology: AI 2022; the authors may ask you to fill in a request form first). Put them in "
    "one folder and run `radbench weights import radimagenet FOLDER`.")
IMAGENET_WHERE = (
    "ImageNet weights are Keras' published notop files: `radbench weights fetch imagenet` "
    "downloads them into Keras' cache (~/.keras/models, or $KERAS_HOME/models); on a machine "
    "without network, run it on one with network and copy that folder over, or put each file "
    "named above into it by hand (the MD5 is checked).")


def weights_status() -> list[dict]:
    """Per source and backbone: present or not, where, and its hash."""
    rows = []
    for backbone, spec in BACKBONES.items():
        entry = spec.imagenet
        if entry:
            path = keras_models_dir() / entry.file
            state = "missing"
            if path.is_file():
                state = "ok" if _published_digest(path, entry) == entry.published_hash else \
                    f"damaged ({entry.hash_kind.upper()} differs)"
            rows.append({"source": "imagenet", "backbone": backbone, "state": state,
                         "path": str(path), "hash": f"{entry.hash_kind} {entry.published_hash}"})
        if spec.radimagenet_file:
            index = _radimagenet_index().get(backbone)
            path = radimagenet_dir() / spec.radimagenet_file
            state, digest = "not imported", ""
            if index and path.is_file():
                digest = file_sha256(path)
                state = "ok" if digest == index["sha256"] else "changed since import"
            rows.append({"source": "radimagenet", "backbone": backbone, "state": state,
                         "path": str(path), "hash": f"sha256 {digest[:16]}" if digest else ""})
    return rows
