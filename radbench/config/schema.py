"""Validated models of the two kinds of YAML files: tasks and grids.

Every model forbids unknown keys, so a typo fails before anything runs. Names that registries
own (backbones: radbench.models; adapters: radbench.data) are checked where they are looked up,
before any training starts, with the file and key named (`ConfigFile.key`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model, field_validator, \
    model_validator

FineTuneName = Literal["freezeall", "unfreezetop10", "unfreezeall"]  # the paper's settings
ProbeName = Literal["probe", "knn"]  # frozen features, then scikit-learn (radbench.train.probe)
FreezeName = Literal["freezeall", "unfreezetop10", "unfreezeall", "probe", "knn"]
PROBES: tuple[str, ...] = get_args(ProbeName)
Normalization = Literal["paper", "native", "caffe", "tf", "torch"]
LrSchedule = Literal["constant", "step"]
SelectOn = Literal["val_loss", "val_auc"]
Interpolation = Literal["nearest", "bilinear", "bicubic"]
Precision = Literal["float32", "mixed_bfloat16", "mixed_float16"]

NAMED_SOURCES = ("scratch", "imagenet", "radimagenet")  # and file:PATH (radbench.models.sources)
SOURCE_PATTERN = re.compile(rf"^({'|'.join(NAMED_SOURCES)}|file:.+)$")
SOURCES_EXPECTED = ", ".join(NAMED_SOURCES) + " or file:PATH"


def _admits_bool(annotation) -> bool:
    """Whether a field's type names bool anywhere (bool, bool | None, list[bool], Union[...])."""
    if annotation is bool:
        return True
    return any(_admits_bool(arg) for arg in get_args(annotation))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value, info):
        """YAML's `true` is not a number: pydantic would read it as 1 (an lr of 1, a seed of 1,
        `folds: yes` as one fold). Refused wherever the field does not take a boolean."""
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, bool) for v in values):
            field = cls.model_fields.get(info.field_name)
            if field is not None and not _admits_bool(field.annotation):
                raise ValueError("expected a number or text, not a boolean (true/false/yes/no)")
        return value


class ConfigFile(Strict):
    """A model read from a YAML file: remembers the file, so later checks can name it."""

    _file: str | None = PrivateAttr(None)

    def key(self, key: str) -> str:
        """`FILE: key 'KEY'` (the config's name when it was not read from a file)."""
        return f"{self._file or getattr(self, 'name', type(self).__name__)}: key '{key}'"


class Augmentation(Strict):
    """Train-time augmentation, in the units of Keras' ImageDataGenerator (the paper's scripts)."""

    rotation_degrees: float = Field(0.0, ge=0, le=180, description="uniform in [-r, r] degrees")
    width_shift: float = Field(0.0, ge=0, lt=1, description="fraction of the width")
    height_shift: float = Field(0.0, ge=0, lt=1, description="fraction of the height")
    shear_degrees: float = Field(
        0.0, ge=0, lt=90, description="shear angle in degrees (ImageDataGenerator's shear_range)"
    )
    zoom: float = Field(0.0, ge=0, lt=1, description="zoom in [1 - z, 1 + z], per axis")
    horizontal_flip: bool = False
    vertical_flip: bool = False
    fill_mode: Literal["nearest", "constant", "reflect", "wrap"] = "nearest"

    @property
    def enabled(self) -> bool:
        return any(
            [self.rotation_degrees, self.width_shift, self.height_shift, self.shear_degrees,
             self.zoom, self.horizontal_flip, self.vertical_flip]
        )


class Columns(Strict):
    """Column names of a CSV manifest."""

    path: str = "path"
    label: str = "label"
    group: str | None = None
    mask: str | None = None
    split: str | None = Field(
        None, description="the release's own part of each image (train, val/validation, test) "
        "for split scheme given; empty: the task's other scheme")


class Window(Strict):
    """A CT/MR display window in the image's units (HU after rescale slope/intercept)."""

    name: str = ""
    center: float
    width: float = Field(gt=0)


class DataSpec(Strict):
    """Where a task's images come from and how raw labels become the task's classes."""

    adapter: str = Field(description="the release layout reader (radbench.data.adapters)")
    root: str | None = Field(None, description="dataset folder; `radbench run --data` overrides it")
    csv: str | None = Field(None, description="csv adapter: the manifest file, relative to root")
    columns: Columns = Columns()
    group_pattern: str | None = Field(
        None, description="regular expression on the file name; its first group is the patient id"
    )
    class_map: dict[str, str] = Field(
        default_factory=dict, description="raw label (folder name, csv value, TI-RADS) -> class"
    )
    drop_labels: list[str] = Field(
        default_factory=list, description="raw labels whose images are left out (and counted)"
    )
    exclude_dirs: list[str] = Field(default_factory=list, description="folder names never read")
    missing_files: Literal["error", "drop"] = Field(
        "error", description="a listed image that does not exist: stop, or leave it out and count it"
    )
    class_level: int | None = Field(
        None, ge=0, description="folders: the class is the folder at this depth below the root "
        "(0 = top level); default: the folder holding the file"
    )
    group_level: int | None = Field(
        None, ge=0, description="folders: the group is the folder at this depth below the root"
    )
    target: str | None = Field(
        None, description="mrnet: the label file (acl, meniscus, abnormal); rsna_ich: the "
        "subtype column (any, epidural, ...); medmnist: the .npz file name"
    )
    slices: int = Field(3, ge=1, le=64, description="mrnet: central sagittal slices per exam")
    windows: list[Window] = Field(
        default_factory=list, description="DICOM: no window = the file's VOI LUT or min-max; "
        "one window = gray replicated; three windows = the three channels"
    )
    near_duplicates: Literal["group", "report"] = Field(
        "report", description="near-duplicate images (perceptual hash): merge them into one "
        "group so they never straddle train and test, or only report them"
    )
    external: dict[str, str] = Field(
        default_factory=dict, description="external validation sites: name -> dataset folder "
        "(relative to the task file), read by the same adapter and checked by the same data "
        "check; cells train and select on the task's data and are also scored on each site "
        "(`radbench run --test-data` adds more)")
    label_conflicts: Literal["error", "drop", "keep"] = Field(
        "error", description="the same image (exact, or a near duplicate) in two classes: "
        "stop with an error naming both files (`--skip-bad` leaves them out), leave them out "
        "with a note, or keep them with a warning (the shipped paper tasks: as the study did)"
    )
    duplicate_distance: int = Field(
        4, ge=0, le=32, description="largest Hamming distance of two 64-bit perceptual hashes "
        "that still counts as a near-duplicate"
    )

    @field_validator("windows")
    @classmethod
    def _one_or_three(cls, value: list[Window]) -> list[Window]:
        if len(value) not in (0, 1, 3):
            raise ValueError(f"{len(value)} windows given; expected 0, 1 or 3 (one per channel)")
        return value

    @field_validator("external")
    @classmethod
    def _site_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"external site name {name!r}: expected letters, digits, "
                                 f"'_', '.' or '-'")
        return value

    @field_validator("group_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from exc
            if compiled.groups < 1:
                raise ValueError("needs one capture group, the patient id, e.g. '^(\\d+)_'")
        return value


class ClassesSpec(Strict):
    """Two classes, one of them positive (the paper's binary tasks), or three and more
    (multi-class: no positive class; column i of the model's output is names[i])."""

    names: list[str] = Field(min_length=2)
    positive: str | None = None

    @model_validator(mode="after")
    def _positive_is_a_class(self) -> "ClassesSpec":
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"the class names must differ, got {self.names}")
        if len(self.names) == 2:
            if self.positive is None:
                raise ValueError("a two-class task names its positive class (classes.positive)")
            if self.positive not in self.names:
                raise ValueError(f"positive class {self.positive!r} is not one of {self.names}")
        elif self.positive is not None:
            raise ValueError(f"a task of {len(self.names)} classes has no positive class; leave "
                             f"classes.positive out (metrics: macro one-vs-rest AUC)")
        return self

    @property
    def multiclass(self) -> bool:
        return len(self.names) > 2

    @property
    def negative(self) -> str:
        return next(name for name in self.names if name != self.positive)


class SplitSpec(Strict):
    """Patient-grouped, label-stratified splits: k-fold CV or one hold-out split."""

    scheme: Literal["kfold", "holdout", "given", "published"] = Field(
        description="kfold / holdout: made by radbench; given: the release's own test part, "
        "never re-split (folders named train/val/test at any depth, a CSV's split column, "
        "MedMNIST's parts), val drawn from train when the release has none; published: the "
        "RadImageNet authors' folds (their CSVs; `folds` must be their number of folds)"
    )
    folds: int = Field(5, ge=1, le=20, description="kfold and published: the folds; given: "
                       "k-fold inside train + val with the test part fixed (default 1: the "
                       "release's val part, or val drawn once from train)")
    fractions: tuple[float, float, float] = Field(
        (0.7, 0.1, 0.2), description="train, val, test; for kfold test must be 1/folds"
    )
    seed: int = 0
    fallback: Optional[Literal["kfold", "holdout"]] = Field(
        None, exclude=True, description="with scheme published: the scheme radbench uses when "
        "the authors' CSVs are not found (said in the run's notes and the report); none: a "
        "missing CSV stops the run")

    @model_validator(mode="after")
    def _fractions_add_up(self) -> "SplitSpec":
        if "kfold" in (self.scheme, self.fallback) and self.folds < 2:
            raise ValueError(f"kfold needs at least 2 folds, got {self.folds}")
        if self.fallback is not None and self.scheme != "published":
            raise ValueError(f"fallback: {self.fallback} is only for scheme published")
        if any(f <= 0 for f in self.fractions) or not math.isclose(sum(self.fractions), 1.0,
                                                                     abs_tol=1e-6):
            raise ValueError(f"fractions {list(self.fractions)} must be positive and sum to 1")
        if "kfold" in (self.scheme, self.fallback) and not math.isclose(self.fractions[2], 1 / self.folds,
                                                       abs_tol=0.011):
            raise ValueError(
                f"kfold with {self.folds} folds tests on 1/{self.folds} of the data, "
                f"but fractions[2] is {self.fractions[2]}"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _given_defaults_to_one_fold(cls, values: Any) -> Any:
        """A given split has one fold unless `folds` says otherwise (k-fold inside train +
        val); the other schemes keep 5."""
        if isinstance(values, dict) and values.get("scheme") == "given" and "folds" not in values:
            values = {**values, "folds": 1}
        return values

    @property
    def n_folds(self) -> int:
        return self.folds if self.scheme in ("kfold", "published", "given") else 1


def training_setting(default, *, key: str | None = None, scenario: bool = True,
                     axis: bool = True, later: bool = False, **field: object):
    """A training setting, declared once; what it is for derives from this declaration:

    - scenario: a key of the cell's scenario (result.json, the report's groups and pairing);
    - axis: a grid may list values under `axes:` (any setting may be fixed under `overrides:`);
    - key: its name in scenarios, overrides and axes when it differs (`augment: false` turns
      `augmentation` off);
    - later: added after runs were stored, so left out of a cell's id while at its default
      (those cells keep their ids and are not run again).
    """
    role = {"key": key, "scenario": scenario, "axis": axis, "later": later}
    return Field(default, json_schema_extra={"radbench": role}, **field)


class Training(Strict):
    """Everything about fitting one cell that a grid may override."""

    image_size: int = training_setting(256, ge=16, le=1024)
    batch_size: int = training_setting(256, ge=1)
    epochs: int = training_setting(30, ge=1)
    normalization: Normalization = training_setting("paper", description=(
        "paper: caffe mode then x 1/255 for every source (the authors' scripts); native: what "
        "each source's weights were trained with (radbench.models.sources); caffe / tf ([-1, 1]) "
        "/ torch: that keras preprocess_input mode for every source"))
    interpolation: Interpolation = training_setting("nearest")
    augmentation: Augmentation = training_setting(Augmentation(), key="augment")
    precision: Precision = training_setting("float32", later=True, description=(
        "mixed_bfloat16 / mixed_float16 (with loss scaling) compute in half precision; float32: "
        "the paper"))
    batchnorm_momentum: float | None = training_setting(None, later=True, gt=0, lt=1, description=(
        "momentum of every BatchNorm layer's moving statistics; none: the backbone's own "
        "(Keras 0.99, MobileNetV3 0.999; the paper)"))
    batchnorm_calibration: bool = training_setting(False, later=True, description=(
        "re-estimate the BatchNorm statistics on training images as training starts and before "
        "every validation (radbench.train.batchnorm); off: the paper"))
    lr_schedule: LrSchedule = training_setting("constant", later=True, description=(
        "constant: the paper; step: x 0.1 after 50 % and again after 75 % of the epochs "
        "(MedMNIST v2's MultiStepLR)"))
    select_on: SelectOn = training_setting("val_loss", later=True, description=(
        "the epoch whose weights are kept: lowest val_loss (the paper) or highest val_auc "
        "(MedMNIST v2)"))
    head_dropout: float = training_setting(0.5, later=True, ge=0, lt=1, description=(
        "dropout before the classification layer: 0.5 in the paper, 0 in MedMNIST v2"))
    train_fraction: float = training_setting(1.0, later=True, gt=0, le=1, description=(
        "share of each fold's training images the cell trains on: whole patient groups, "
        "stratified by class, seeded by the cell's seed and fold, nested (the 10 % set holds the "
        "5 % set); validation and test untouched (label-efficiency curves)"))
    jit_compile: bool | None = training_setting(
        None, scenario=False, axis=False, later=True, description=(
        "compiled training step; default: on under JAX, off under TensorFlow (XLA refuses the "
        "augmentation ops) and torch"))


@dataclass(frozen=True)
class SettingRole:
    """What a Training field is for (see `setting`)."""

    field: str
    key: str
    scenario: bool
    axis: bool
    later: bool
    default: object

    def value(self, training: "Training") -> object:
        """The setting as a scenario key and grid override show it."""
        value = getattr(training, self.field)
        return value.enabled if isinstance(value, Augmentation) else value


TRAINING_SETTINGS: tuple[SettingRole, ...] = tuple(
    SettingRole(name, info.json_schema_extra["radbench"]["key"] or name,
                **{k: v for k, v in info.json_schema_extra["radbench"].items() if k != "key"},
                default=info.default)
    for name, info in Training.model_fields.items())
SCENARIO_SETTINGS = tuple(r.key for r in TRAINING_SETTINGS if r.scenario)
AXIS_SETTINGS = tuple(r.key for r in TRAINING_SETTINGS if r.axis)
LATER_SETTINGS = {r.field: r.default for r in TRAINING_SETTINGS if r.later}


def _override_field(info) -> tuple[object, object]:
    """The grid's optional version of a Training field (same constraints; None: not fixed)."""
    if isinstance(info.default, Augmentation):
        return bool | None, Field(None, description="false turns the task's augmentation off")
    inner = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return Optional[inner], Field(None, description=info.description)


TrainingOverrides = create_model(
    "TrainingOverrides", __base__=Strict,
    __doc__="The fields of `Training` a grid may fix (all optional); derived from Training.",
    **{(info.json_schema_extra["radbench"]["key"] or name): _override_field(info)
       for name, info in Training.model_fields.items()})


class TaskConfig(ConfigFile):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    modality: str = ""
    data: DataSpec
    classes: ClassesSpec
    split: SplitSpec
    training: Training = Training()
    has_masks: bool = False
    paper_counts: dict[str, int] | None = Field(
        None, description="images per class in the RadImageNet study"
    )
    dataset_url: str | None = None

    @model_validator(mode="after")
    def _maps_to_known_classes(self) -> "TaskConfig":
        for raw, target in self.data.class_map.items():
            if target not in self.classes.names:
                raise ValueError(
                    f"data.class_map maps {raw!r} to {target!r}, not one of {self.classes.names}"
                )
        return self


MAX_SEED = 2**32 - 1  # the largest seed NumPy, TensorFlow and JAX all take


def _no_repeats(where: str, values: list) -> None:
    """A value listed twice would announce cells that are one cell (the same id)."""
    seen = []
    for value in values:
        if value in seen:
            raise ValueError(f"{where}: {value!r} is listed twice")
        seen.append(value)


class Setting(Strict):
    """One freeze setting with the learning rates that go with it. `probe` and `knn` train no
    network: they take no learning rate (their cells record lr 0)."""

    freeze: FreezeName
    lr: list[float] | None = Field(None, min_length=1)

    @field_validator("lr")
    @classmethod
    def _positive(cls, values: list[float] | None) -> list[float] | None:
        if values is not None and any(not math.isfinite(v) or v <= 0 for v in values):
            raise ValueError("learning rates must be positive finite numbers")
        if values is not None:
            _no_repeats("lr", values)
        return values

    @model_validator(mode="after")
    def _lr_for_fine_tuning(self) -> "Setting":
        if self.freeze in PROBES:
            if self.lr is not None:
                raise ValueError(f"freeze {self.freeze!r} fits scikit-learn on frozen features: "
                                 f"it takes no lr (leave lr out)")
        elif self.lr is None:
            raise ValueError(f"freeze {self.freeze!r} needs lr: a list of learning rates")
        return self

    @property
    def rates(self) -> list[float]:
        """The learning rates of its cells: [0.0] for a probe."""
        return self.lr if self.lr is not None else [0.0]


class OutOfMemorySpec(Strict):
    """What a cell that ran out of GPU memory may do on its next attempt."""

    halve_batch: bool = Field(False, description="retry with half the batch size (recorded in "
                                                 "the cell); off: retry with the same batch")
    min_batch_size: int = Field(4, ge=1, description="never go below this batch size")


class ExecutionSpec(Strict):
    """Retries and failure budget (command-line options override them)."""

    retries: int = Field(0, ge=0, description="extra attempts for transient failures (out of "
                                              "memory, crash, preemption, node failure)")
    max_consecutive_failures: int = Field(5, ge=0, description="stop the grid after this many "
                                                               "cells in a row failed (0: never)")
    on_out_of_memory: OutOfMemorySpec = OutOfMemorySpec()


AxisValue = Union[int, float, str, bool]


class GridConfig(ConfigFile):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    sources: list[str] = Field(min_length=1)
    backbones: list[str] = Field(min_length=1, description="registered backbone names")
    settings: list[Setting] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(default_factory=lambda: [0],
                                                                  min_length=1)
    folds: Literal["all"] | int | list[int] = "all"
    overrides: TrainingOverrides = TrainingOverrides()
    axes: dict[str, list[AxisValue]] = Field(
        default_factory=dict, description="extra axes, named as in `overrides` (a training "
        "setting with axis=True): each value list multiplies the grid"
    )
    execution: ExecutionSpec = ExecutionSpec()
    executors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="each executor's settings under its name (`radbench "
        "run --help` lists the executors); checked by that executor when it is chosen")

    @field_validator("seeds", "backbones")
    @classmethod
    def _distinct(cls, values: list, info) -> list:
        _no_repeats(info.field_name, values)
        return values

    @field_validator("folds")
    @classmethod
    def _distinct_folds(cls, value):
        if isinstance(value, list):
            _no_repeats("folds", value)
        return value

    @field_validator("settings")
    @classmethod
    def _distinct_settings(cls, settings: list["Setting"]) -> list["Setting"]:
        """Two settings that share a freeze and a learning rate announce one cell twice."""
        seen: set[tuple[str, float]] = set()
        for setting in settings:
            for rate in setting.rates:
                if (setting.freeze, rate) in seen:
                    what = f"freeze {setting.freeze!r}" + (f" with lr {rate:g}" if rate else "")
                    raise ValueError(f"{what} is listed twice (one cell, not two)")
                seen.add((setting.freeze, rate))
        return settings

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, values: list[str]) -> list[str]:
        _no_repeats("sources", values)
        for value in values:
            if not SOURCE_PATTERN.match(value):
                raise ValueError(f"unknown source {value!r}; expected {SOURCES_EXPECTED}")
        return values

    @field_validator("axes")
    @classmethod
    def _axes_valid(cls, axes: dict[str, list]) -> dict[str, list]:
        for key, values in axes.items():
            if key not in AXIS_SETTINGS:
                raise ValueError(f"axes: {key!r} is not a training setting a grid may vary; "
                                 f"expected one of {', '.join(AXIS_SETTINGS)}")
            if not values:
                raise ValueError(f"axes: {key!r} lists no value (leave the axis out, or give "
                                 f"one or more values)")
            _no_repeats(f"axes: {key}", values)
            for value in values:
                TrainingOverrides.model_validate({key: value})
        return axes
