"""Pretraining sources: where a backbone's starting weights come from.

scratch: random initialisation. file:PATH: a notop weights file for that backbone (Keras 2 `.h5`,
Keras 3 `.weights.h5`). imagenet and radimagenet have their own issue and are refused clearly
until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radbench.errors import ConfigError
from radbench.ids import file_sha256

WEIGHT_SUFFIXES = (".h5", ".weights.h5", ".hdf5")
NOT_YET = {
    "imagenet": "ImageNet weights are not wired in yet (issue 4); use scratch or "
                "file:PATH with a notop weights file",
    "radimagenet": "RadImageNet weights are not wired in yet (issue 4); use scratch or "
                   "file:PATH with RadImageNet-<Arch>_notop.h5",
}


@dataclass(frozen=True)
class ResolvedSource:
    """A source as a cell uses it: the `weights=` argument and the file's hash, if any."""

    name: str
    weights: str | None
    sha256: str | None


def check_source(source: str) -> None:
    """Fail before any training if a source cannot be used (ConfigError, one line)."""
    if source in NOT_YET:
        raise ConfigError(f"source {source!r}: {NOT_YET[source]}")
    if source.startswith("file:"):
        path = Path(source[5:]).expanduser()
        if not path.is_file():
            raise ConfigError(f"source {source!r}: weights file {path} not found")
        if not path.name.endswith(WEIGHT_SUFFIXES):
            raise ConfigError(f"source {source!r}: expected a .h5 or .weights.h5 file, "
                              f"got {path.name}")
    elif source != "scratch":
        raise ConfigError(f"unknown source {source!r}; expected scratch, imagenet, radimagenet "
                          f"or file:PATH")


def normalize_source(source: str) -> str:
    """file:PATH with PATH made absolute, so cells do not depend on the working directory."""
    if source.startswith("file:"):
        return "file:" + str(Path(source[5:]).expanduser().resolve())
    return source


def resolve_source(source: str) -> ResolvedSource:
    check_source(source)
    if source.startswith("file:"):
        path = Path(source[5:]).expanduser().resolve()
        return ResolvedSource(source, str(path), file_sha256(path))
    return ResolvedSource(source, None, None)
