"""Pretraining sources: where a backbone's starting weights come from.

scratch: random initialisation. imagenet: Keras applications' ImageNet weights, from Keras'
cache (never downloaded during a grid). radimagenet: the RadImageNet files imported with
`radbench weights import`. file:PATH: a notop weights file for that backbone (Keras 2 `.h5`,
Keras 3 `.weights.h5`, or a `.keras` model opened in Keras' safe mode); `{backbone}` in PATH
stands for the cell's backbone, so one source names a file per backbone
(`file:w/radiology-{backbone}.weights.h5`) and the report pairs its cells across backbones as
one source. Every cell records the sha256 of the file it started from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from radbench.config.schema import SOURCE_PATTERN, SOURCES_EXPECTED
from radbench.errors import ConfigError
from radbench.ids import file_sha256

WEIGHT_SUFFIXES = (".h5", ".weights.h5", ".hdf5", ".keras")


@dataclass(frozen=True)
class ResolvedSource:
    """A source as a cell uses it: the `weights=` argument and the file's hash, if any."""

    name: str
    weights: str | None
    sha256: str | None


BACKBONE_FIELD = "{backbone}"


def file_path(source: str, backbone: str | None) -> Path:
    """The weights file of a `file:` source for `backbone`: PATH, with `{backbone}` filled in."""
    raw = source[5:]
    if BACKBONE_FIELD in raw:
        if backbone is None:
            raise ConfigError(f"source {source!r}: {BACKBONE_FIELD} needs a backbone")
        raw = raw.replace(BACKBONE_FIELD, backbone)
    return Path(raw).expanduser()


def _weights_path(source: str, backbone: str | None) -> Path | None:
    from radbench.models import weights

    if source == "imagenet":
        return weights.imagenet_file(backbone) if backbone else None
    if source == "radimagenet":
        return weights.radimagenet_file(backbone)[0] if backbone else None
    return None


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_weights_container(source: str, path: Path) -> None:
    """The file is what its name says: an HDF5 file (.h5, .hdf5, .weights.h5) or a whole zip
    archive (.keras), read before any training; a ConfigError names what it found instead."""
    import zipfile

    with path.open("rb") as stream:
        head = stream.read(8)
    if path.name.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError) as exc:
            raise ConfigError(f"source {source!r}: {path} is not a Keras .keras file (not a "
                              f"zip archive: {exc})") from None
        if damaged is not None:
            raise ConfigError(f"source {source!r}: {path} is damaged ({damaged} fails its CRC)")
        return
    if head != HDF5_SIGNATURE:
        what = "empty" if not head else f"starts with {head[:8]!r}"
        raise ConfigError(f"source {source!r}: {path} is not an HDF5 weights file ({what}; "
                          f"expected the HDF5 signature)")
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            list(handle.keys())
    except OSError as exc:
        first = (str(exc).splitlines() or ["unreadable"])[0][:160]
        raise ConfigError(f"source {source!r}: {path} is a damaged HDF5 file ({first})") \
            from None


def check_source(source: str, backbones: Iterable[str] = ()) -> None:
    """Fail before any training if a source cannot be used for these backbones (ConfigError)."""
    if source in ("imagenet", "radimagenet"):
        for backbone in backbones:
            _weights_path(source, backbone)
    elif source.startswith("file:"):
        templated = BACKBONE_FIELD in source
        for backbone in (list(backbones) if templated else [None]):
            path = file_path(source, backbone)
            if not path.is_file():
                what = f" for backbone {backbone}" if templated else ""
                raise ConfigError(f"source {source!r}: weights file {path}{what} not found")
            if not path.name.endswith(WEIGHT_SUFFIXES):
                raise ConfigError(f"source {source!r}: expected a .h5, .weights.h5 or .keras "
                                  f"file, got {path.name}")
            check_weights_container(source, path)
    elif not SOURCE_PATTERN.match(source):
        raise ConfigError(f"unknown source {source!r}; expected {SOURCES_EXPECTED}")


def normalize_source(source: str) -> str:
    """file:PATH with PATH made absolute, so cells do not depend on the working directory."""
    if source.startswith("file:"):
        path = Path(source[5:]).expanduser()
        # resolve() would follow a link named after one backbone; absolute() keeps the field
        return "file:" + str(path.absolute() if BACKBONE_FIELD in source else path.resolve())
    return source


def input_mode(source: str | None, backbone: str, normalization: str) -> str:
    """The `ChannelNormalization` mode a cell of `backbone` starting from `source` uses.

    paper: caffe, then x 1/255 (the authors' scripts, every source). caffe / tf / torch: that
    mode for every source. native: what the source's weights were trained with:
    - imagenet and scratch: the backbone's own Keras mode (`Backbone.native_mode`);
    - radimagenet: paper mode, the preprocessing of the authors' published scripts (the only
      record of what they fed their networks);
    - file:PATH made by `radbench pretrain`: the corpus's normalization, read from the record
      beside the file (PATH without .weights.h5, plus .json); any other file: the backbone's own.
    """
    from radbench.models.backbones import get_backbone

    if normalization != "native":
        return normalization
    if source == "radimagenet":
        return "paper"
    native = get_backbone(backbone).native_mode
    if source and source.startswith("file:"):
        trained_with = _pretrain_normalization(file_path(source, backbone))
        if trained_with == "paper":
            return "paper"
    return native


def _pretrain_normalization(path: Path) -> str | None:
    """The normalization a `radbench pretrain` record beside `path` names, if there is one."""
    import json

    name = path.name
    for suffix in (".weights.h5", ".keras", ".h5"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    record = path.with_name(name + ".json")
    try:
        value = json.loads(record.read_text()).get("normalization")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def resolve_source(source: str, backbone: str | None = None) -> ResolvedSource:
    """The weights file a cell of `backbone` starts from, with its sha256."""
    check_source(source, [backbone] if backbone else [])
    if source.startswith("file:"):
        path = file_path(source, backbone).resolve()
        return ResolvedSource(source, str(path), file_sha256(path))
    path = _weights_path(source, backbone)
    if path is not None:
        return ResolvedSource(source, str(path), file_sha256(path))
    return ResolvedSource(source, None, None)
