"""Pretraining corpora: labelled datasets (any adapter) whose classes, prefixed with the dataset's
name, become one multi-class problem for `radbench pretrain`."""

from __future__ import annotations

from pydantic import Field, model_validator

from radbench.config.schema import Augmentation, ConfigFile, DataSpec, Strict


class CorpusPart(Strict):
    """One dataset of a corpus; its labels become `<name>:<label>`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    data: DataSpec
    max_images: int | None = Field(None, ge=1, description="a stratified subset of this size")


class CorpusConfig(ConfigFile):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    parts: list[CorpusPart] = Field(min_length=1)
    image_size: int = Field(64, ge=32, le=1024)
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(5, ge=1)
    lr: float = Field(1e-3, gt=0)
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="held out, stratified, by group")
    seed: int = 0
    normalization: str = Field("paper", pattern="^(paper|native)$")
    augmentation: Augmentation = Augmentation()
    calibration_batches: int = Field(
        50, ge=1, description="batches of training images that re-estimate the BatchNorm "
        "statistics after training (their moving averages lag far behind at momentum 0.99+)"
    )

    @model_validator(mode="after")
    def _unique_part_names(self) -> "CorpusConfig":
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names must differ (got {names})")
        return self


class PretrainOptions(Strict):
    """What the command line adds to a corpus."""

    backbone: str = Field(description="a registered backbone (checked where it is built)")
    epochs: int | None = Field(None, ge=1)
