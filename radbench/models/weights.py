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
from dataclasses import dataclass
from pathlib import Path

from radbench.data.fetch import md5_of
from radbench.errors import ConfigError
from radbench.ids import file_sha256
from radbench.models.backbones import BACKBONES, get_backbone

KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class KerasFile:
    file: str
    url: str
    md5: str


IMAGENET_NOTOP: dict[str, KerasFile] = {  # keras.applications' file names, URLs and MD5s
    "ResNet50": KerasFile("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                          KERAS_BASE + "resnet/", "4d473c1dd8becc155b73f8504c6f6626"),
    "DenseNet121": KerasFile("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                             KERAS_BASE + "densenet/", "30ee3e1110167f948a6b9946edeeb738"),
    "InceptionV3": KerasFile("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                             KERAS_BASE + "inception_v3/", "bcbd6486424b2319ff4ef7d526e38f63"),
    "InceptionResNetV2": KerasFile(
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        KERAS_BASE + "inception_resnet_v2/", "d19885ff4a710c122648d3b5c3b684e4"),
    "MobileNetV3Small": KerasFile("weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
                                  KERAS_BASE + "mobilenet_v3/", "d3e8ec802a04aa4fc771ee12a9a9b836"),
}

RADIMAGENET_NAME = re.compile(r"^RadImageNet[-_](IRV2|ResNet50|DenseNet121|InceptionV3)[-_]notop"
                              r"\.h5$", re.IGNORECASE)


def keras_models_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models, default ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "models"


def radbench_home() -> Path:
    return Path(os.environ.get("RADBENCH_HOME") or Path.home() / ".radbench")


def radimagenet_dir() -> Path:
    return radbench_home() / "weights" / "radimagenet"


def imagenet_file(backbone: str, verify: bool = True) -> Path:
    """The ImageNet notop file of `backbone`, present and intact; else ConfigError with the fix."""
    if backbone not in IMAGENET_NOTOP:
        raise ConfigError(f"source 'imagenet': no ImageNet weights known for {backbone}")
    entry = IMAGENET_NOTOP[backbone]
    path = keras_models_dir() / entry.file
    fix = (f"run `radbench weights fetch imagenet --backbones {backbone}` on a machine with "
           f"network, or copy the file there from {entry.url}{entry.file}")
    if not path.is_file():
        raise ConfigError(f"source 'imagenet': {backbone} weights {path} not found; {fix}")
    digest = md5_of(path) if verify else entry.md5
    if digest != entry.md5:
        raise ConfigError(f"source 'imagenet': {path} has MD5 {digest}, Keras publishes "
                          f"{entry.md5} (damaged or another file); {fix}")
    return path


def fetch_imagenet(backbones: list[str]) -> list[Path]:
    """Download through Keras (which verifies its hashes) into the Keras cache."""
    import keras

    paths = []
    for backbone in backbones:
        entry = IMAGENET_NOTOP.get(backbone)
        if entry is None:
            raise ConfigError(f"no ImageNet weights known for {backbone}")
        try:
            path = keras.utils.get_file(entry.file, entry.url + entry.file, cache_subdir="models",
                                        file_hash=entry.md5,
                                        cache_dir=str(keras_models_dir().parent))
        except Exception as exc:  # noqa: BLE001 - Keras raises a bare Exception offline
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise ConfigError(f"cannot download {entry.url}{entry.file} ({first}); copy the file "
                              f"by hand to {keras_models_dir() / entry.file}") from None
        paths.append(Path(path))
    return paths


def load_keras_file_into(base, path) -> None:
    """Copy the backbone weights of a `.keras` file into `base`. The file is opened with Keras'
    safe mode (no Lambda code is ever run); its model is the notop backbone itself or a model
    holding it (e.g. a whole radbench classifier). Any mismatch is a ConfigError."""
    import keras

    try:
        loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, TypeError, OSError...
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"{path}: cannot open this .keras file in safe mode: {first}") from None
    nested = [layer for layer in loaded.layers if isinstance(layer, keras.Model)]
    candidate = nested[0] if len(nested) == 1 else loaded
    ours, theirs = base.get_weights(), candidate.get_weights()
    shapes_ours = [w.shape for w in ours]
    shapes_theirs = [w.shape for w in theirs]
    if shapes_ours != shapes_theirs:
        raise ConfigError(f"{path}: its model ({candidate.name}, {len(theirs)} weight arrays) "
                          f"does not match the notop {base.name} ({len(ours)} arrays); expected "
                          f"a file saved from the same backbone")
    base.set_weights(theirs)


def _radimagenet_index() -> dict:
    index = radimagenet_dir() / "index.json"
    return json.loads(index.read_text()) if index.is_file() else {}


def radimagenet_file(backbone: str) -> tuple[Path, str]:
    """The imported RadImageNet file for `backbone` and its recorded sha256."""
    arch = get_backbone(backbone).radimagenet_arch
    if arch is None:
        raise ConfigError(f"source 'radimagenet': RadImageNet has no {backbone} "
                          f"(only IRV2, ResNet50, DenseNet121, InceptionV3)")
    entry = _radimagenet_index().get(backbone)
    path = radimagenet_dir() / f"RadImageNet-{arch}_notop.h5"
    if entry is None or not path.is_file():
        raise ConfigError(f"source 'radimagenet': {backbone} weights not imported ({path} "
                          f"missing); run `radbench weights import radimagenet DIR` with the "
                          f"folder holding RadImageNet-{arch}_notop.h5")
    return path, entry["sha256"]


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
    model = get_backbone(backbone).build(max(75, get_backbone(backbone).min_size))
    try:
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
    found = sorted(p for p in folder.iterdir() if RADIMAGENET_NAME.match(p.name))
    if not found:
        raise ConfigError(f"{folder}: no RadImageNet-<Arch>_notop.h5 file (Arch: IRV2, ResNet50, "
                          f"DenseNet121, InceptionV3)")
    checked = []
    for path in found:
        backbone = _backbone_for_arch(RADIMAGENET_NAME.match(path.name).group(1))
        check_loads(path, backbone)
        checked.append((path, backbone))
    target_dir = radimagenet_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    index = _radimagenet_index()
    stored = []
    for path, backbone in checked:
        arch = get_backbone(backbone).radimagenet_arch
        target = target_dir / f"RadImageNet-{arch}_notop.h5"
        partial = target.with_suffix(".h5.part")
        shutil.copyfile(path, partial)
        partial.replace(target)
        entry = {"backbone": backbone, "file": str(target), "sha256": file_sha256(target),
                 "imported_from": str(path.resolve()), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        index[backbone] = entry
        stored.append(entry)
    from radbench.store import atomic_write_json

    atomic_write_json(target_dir / "index.json", index)
    return stored


def weights_status() -> list[dict]:
    """Per source and backbone: present or not, where, and its hash."""
    rows = []
    for backbone in BACKBONES:
        entry = IMAGENET_NOTOP.get(backbone)
        if entry:
            path = keras_models_dir() / entry.file
            state = "missing"
            if path.is_file():
                state = "ok" if md5_of(path) == entry.md5 else "damaged (MD5 differs)"
            rows.append({"source": "imagenet", "backbone": backbone, "state": state,
                         "path": str(path), "hash": f"md5 {entry.md5}"})
        arch = get_backbone(backbone).radimagenet_arch
        if arch:
            index = _radimagenet_index().get(backbone)
            path = radimagenet_dir() / f"RadImageNet-{arch}_notop.h5"
            state, digest = "not imported", ""
            if index and path.is_file():
                digest = file_sha256(path)
                state = "ok" if digest == index["sha256"] else "changed since import"
            rows.append({"source": "radimagenet", "backbone": backbone, "state": state,
                         "path": str(path), "hash": f"sha256 {digest[:16]}" if digest else ""})
    return rows
