"""External validation sites: another hospital's images of the same task, read by the task's
adapter, checked by the same data check, and refused when any of their images is also in the
task's own data. Cells train and select on the task's data; their kept models are scored on
each site (radbench.predict.score_sites), and the report compares sources per site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from radbench.config.schema import TaskConfig
from radbench.data.check import CheckReport, evaluate
from radbench.data.inspect import inspect_all
from radbench.data.manifest import Manifest, build_manifest
from radbench.errors import ConfigError, DataError

SITE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass
class Site:
    """One external site, read and checked."""

    name: str
    manifest: Manifest
    check: CheckReport

    @property
    def data_id(self) -> str:
        return self.manifest.data_id


def parse_test_data(values: list[str] | None) -> dict[str, str]:
    """`--test-data PATH` or `--test-data NAME=PATH` (repeatable): site name -> folder; a bare
    PATH is named after its folder."""
    sites: dict[str, str] = {}
    for value in values or []:
        name, _, path = value.partition("=") if "=" in value else ("", "", value)
        path = path.strip()
        if not path:
            raise ConfigError(f"--test-data {value!r}: expected PATH or NAME=PATH")
        name = name.strip() or Path(path).expanduser().resolve().name
        if not SITE_NAME.fullmatch(name):
            raise ConfigError(f"--test-data {value!r}: site name {name!r} must be letters, "
                              f"digits, '_', '.' or '-' (give NAME=PATH)")
        if name in sites:
            raise ConfigError(f"--test-data: site {name!r} is given twice")
        sites[name] = path
    return sites


def site_roots(task: TaskConfig, task_file: Path | None, test_data: dict[str, str]
               ) -> dict[str, Path]:
    """The task's data.external (relative to the task file) and --test-data's sites."""
    roots: dict[str, Path] = {}
    for name, folder in task.data.external.items():
        root = Path(folder).expanduser()
        if not root.is_absolute() and task_file is not None:
            root = task_file.parent / root
        roots[name] = root
    for name, folder in test_data.items():
        if name in roots and roots[name].resolve() != Path(folder).expanduser().resolve():
            raise ConfigError(f"--test-data {name}={folder}: the task's data.external already "
                              f"names site {name!r} ({roots[name]}); choose another name")
        roots[name] = Path(folder).expanduser()
    return roots


def prepare_site(task: TaskConfig, name: str, root: Path, training: Manifest) -> Site:
    """Read site `name` at `root` with the task's adapter and classes (each class must have
    images), check every image as `radbench data check` does, and refuse an image that is
    also in the task's data (the same file, or a copy: equal 28 px thumbnails)."""
    from radbench.data.overlap import find_overlap

    try:
        manifest = build_manifest(task, Path(root))
    except DataError as exc:
        raise DataError(f"external site {name}: {exc}") from None
    windows = [(w.center, w.width) for w in task.data.windows]
    report = evaluate(task, manifest, inspect_all(manifest, windows))
    if report.errors:
        raise DataError(f"external site {name} ({root}): fails the integrity check with "
                        f"{len(report.errors)} error(s), first: {report.errors[0].message}; "
                        f"`radbench data check {task.name} --data {root}` lists them all")
    # the same file, or equal 28 px thumbnails (a re-saved or resized copy); a perceptual-hash
    # match alone is not enough: images of one kind (lesions, chests) can share a hash
    shared = [o for o in find_overlap(manifest, training, task.data.duplicate_distance)
              if o.how != "perceptual hash"]
    if shared:
        first = shared[0]
        raise DataError(f"external site {name}: image {first.downstream} is also in the task's "
                        f"data ({first.corpus}, {first.how}); {len(shared)} such image(s): an "
                        f"external site must hold only images the cells never saw")
    return Site(name, manifest, report)
