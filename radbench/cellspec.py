"""The cell: one fine-tuning run, and `cell.json`, the typed record of it that crosses every
process boundary (runner → executor → worker → trainer → report, predict, export).

It sits below the run directory (radbench.store reads and writes it) and above the config
models it holds (Training, TaskConfig); every key list about cells derives from `Cell`'s fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from radbench.config.schema import LATER_SETTINGS, SCENARIO_SETTINGS, TRAINING_SETTINGS, \
    TaskConfig, Training
from radbench.ids import canonical_json


@dataclass(frozen=True)
class Cell:
    """One fine-tuning run: a scenario (backbone, source, freeze, lr, seed, training) on one fold."""

    task: str
    source: str
    backbone: str
    freeze: str
    lr: float
    seed: int
    fold: int
    training: Training

    def scenario(self) -> dict[str, Any]:
        """Everything that identifies the scenario, i.e. all but the fold (SCENARIO_KEYS)."""
        return {**{key: getattr(self, key) for key in CELL_SCENARIO_KEYS},
                **{role.key: role.value(self.training) for role in TRAINING_SETTINGS
                   if role.scenario}}

    def model_key(self) -> str:
        """What decides the built model and its initial state: all but the learning rate and
        the fold (cells with equal keys can share one built, traced model)."""
        return canonical_json({k: v for k, v in self.to_dict().items()
                               if k not in NOT_IN_MODEL_KEY})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["training"] = self.training.model_dump(mode="json")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Cell":
        """The cell of a dict as `to_dict` writes it, each field checked for its kind (a
        pydantic ValidationError says which is wrong)."""
        return _CELL.validate_python(data)

    def label(self) -> str:
        """task source backbone freeze lr seed fold, and the settings added after the paper's
        (train_fraction, BatchNorm calibration...) where they differ from their default."""
        extra = "".join(f" {key}={getattr(self.training, key)}"
                        for key, default in LATER_SETTINGS.items()
                        if key in SCENARIO_SETTINGS and getattr(self.training, key) != default)
        return f"{self.task} {self.source} {self.backbone} {self.freeze} lr={self.lr:g} " \
               f"seed={self.seed} fold={self.fold}{extra}"


_CELL = TypeAdapter(Cell)

# the cell's own fields, in order: what cells.csv, status and cell.json's check name
CELL_KEYS = tuple(f.name for f in fields(Cell) if f.name != "training")
# the cell fields in its scenario (then the training settings with scenario=True)
CELL_SCENARIO_KEYS = tuple(key for key in CELL_KEYS if key != "fold")
SCENARIO_KEYS = [*CELL_SCENARIO_KEYS, *SCENARIO_SETTINGS]
NOT_IN_MODEL_KEY = ("lr", "fold")  # what cells sharing one built model may differ in


class CellData(BaseModel):
    """Where the cell's images come from: the dataset root, its data and split ids, and the
    image cache entry the cell reads."""

    model_config = ConfigDict(extra="allow")  # fields of newer versions are kept

    root: str
    data_id: str
    split_id: str | None = None
    cache_dir: str | None = None


class CellConfig(BaseModel):
    """cell.json: the resolved cell, the grid it came from, the resolved task and the data
    reference. Written once by `radbench run`; every reader gets this model from
    `CellDir.config()`."""

    model_config = ConfigDict(extra="allow")

    cell_id: str | None = None
    cell: Cell
    grid: str | None = None
    task: TaskConfig
    data: CellData

    def to_json(self) -> dict[str, Any]:
        """The record as written to cell.json."""
        return self.model_dump(mode="json")
