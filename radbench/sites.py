"""What a run stores of its external validation sites: per task and site the manifest read and
its record (RUN/external/<task>/<site>/), and per cell the scores of its kept model on each site
(RUN/cells/<id>/external/<site>.csv: case_id, y_true, y_score or score_<class>)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from radbench.atomic import atomic_write_csv, atomic_write_json, read_json
from radbench.store import CellDir, RunDir


@dataclass(frozen=True)
class SiteDir:
    """One external site of one task in a run directory."""

    path: Path
    manifest_file = property(lambda self: self.path / "manifest.csv")
    info_file = property(lambda self: self.path / "site.json")

    @property
    def task(self) -> str:
        return self.path.parent.name

    @property
    def name(self) -> str:
        return self.path.name

    def info(self) -> dict[str, Any] | None:
        return read_json(self.info_file)

    def manifest(self) -> pd.DataFrame:
        return pd.read_csv(self.manifest_file, keep_default_na=False, dtype={"case_id": str})

    def write(self, frame: pd.DataFrame, info: dict[str, Any]) -> None:
        """The site's manifest and record (rewritten when the site's data changed)."""
        atomic_write_csv(self.manifest_file, frame)
        atomic_write_json(self.info_file, info)


def site_dir(run: RunDir, task: str, site: str) -> SiteDir:
    return SiteDir(run.path / "external" / task / site)


def site_dirs(run: RunDir) -> Iterator[SiteDir]:
    """Every stored site of every task, in name order."""
    root = run.path / "external"
    if root.is_dir():
        for task in sorted(p for p in root.iterdir() if p.is_dir()):
            for site in sorted(p for p in task.iterdir() if (p / "site.json").is_file()):
                yield SiteDir(site)


def site_predictions_file(cell: CellDir, site: str) -> Path:
    return cell.path / "external" / f"{site}.csv"


def site_predictions(cell: CellDir, site: str) -> pd.DataFrame | None:
    """A cell's scores on `site`, or None when it has none."""
    file = site_predictions_file(cell, site)
    return pd.read_csv(file, dtype={"case_id": str}) if file.is_file() else None
