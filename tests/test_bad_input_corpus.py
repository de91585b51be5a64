"""The bad-input corpus (issue 18): well over 100 kinds of bad input and fault, across every
command, each run as a user types it. For each: the documented exit code, exactly one `error:`
line (the last) naming what is wrong, no traceback, no library warning before it, and nothing
written or changed under the test's folder.

Commands run in this process (typer's runner: a traceback shows as an exception that is not
SystemExit, which fails the test) unless a kind needs a fresh process (the backend is chosen
at import). Adding a kind is one `Kind` line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import REPO, cell_record, foreign_weights

LIBRARY_NOISE = re.compile(r"Warning:|absl::|oneDNN|cpu_feature_guard|^[IWE]\d{4} ", re.M)


class World:
    """The files one kind starts from, made on demand under `root` (which is watched)."""

    def __init__(self, root: Path, phantom: Path):
        self.root, self.phantom = root, phantom

    def path(self, name: str) -> Path:
        return self.root / name

    def text(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return str(path)

    GRID = {"name": "g", "sources": ["scratch"], "backbones": ["MobileNetV3Small"], "folds": 1,
            "settings": [{"freeze": "freezeall", "lr": [1e-2]}],
            "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16}}

    def grid(self, drop: tuple[str, ...] = (), **changes) -> str:
        data = {k: v for k, v in {**self.GRID, **changes}.items() if k not in drop}
        return self.text("g.yaml", yaml.safe_dump(data))

    def task(self, **changes) -> str:
        data = yaml.safe_load((REPO / "radbench/configs/tasks/demo.yaml").read_text())
        for key, value in changes.items():
            node = data
            *parents, last = key.split(".")
            for part in parents:
                node = node[part]
            if value is DROP:
                node.pop(last)
            else:
                node[last] = value
        return self.text("t.yaml", yaml.safe_dump(data))

    def data(self, change: Callable[[Path], None] | None = None) -> str:
        """A copy of the phantom set, changed by `change`."""
        copy = self.root / "data"
        if not copy.exists():
            shutil.copytree(self.phantom, copy)
        if change:
            change(copy)
        return str(copy)

    def manifest(self, edit: Callable[[list[str]], list[str]]) -> str:
        root = Path(self.data())
        lines = (root / "manifest.csv").read_text().splitlines()
        (root / "manifest.csv").write_text("\n".join(edit(lines)) + "\n")
        return str(root)

    def run_dir(self) -> Path:
        """A finished run as `radbench run` stores it: two sources, two lrs, one fold."""
        from radbench.config.schema import Training
        from radbench.cellspec import Cell
        from radbench.store import CellResult, RunDir

        out = self.root / "run"
        run = RunDir(out)
        for source in ("scratch", "imagenet"):
            for lr in (1e-2, 1e-3):
                cell = Cell("demo", source, "MobileNetV3Small", "freezeall", lr, 0, 0,
                            Training(image_size=32, epochs=1))
                directory = run.cell(f"{source}-{lr}")
                directory.write_config(cell_record(cell, directory.id))
                directory.write_result(CellResult(
                    cell_id=directory.id, fold=0, test_auc=0.6 + lr, best_epoch=1,
                    distinct_test_scores=9, **cell.scenario()))
        run.append_invocation({"time": "2026-12-07T10:00:00+0000", "task": "demo",
                               "grid": "smoke", "argv": ["radbench", "run", "demo"],
                               "options": {}, "executor": "local"})
        return out

    def run_args(self, *extra: str, grid: str | None = None, data: str | None = None,
                 out: str | None = None) -> list[str]:
        return ["run", "demo", "--grid", grid or self.grid(), "--data", data or str(self.phantom),
                "--out", out or str(self.root / "out"), *extra]


DROP = object()
HDF5_HEADER = b"\x89HDF\r\n\x1a\n"
ZIP_HEADER = b"PK\x03\x04"


@dataclass
class Kind:
    """One bad input: `make(world)` gives the command line and the text its error must hold."""

    id: str
    make: Callable[[World], tuple[list[str], str]]
    code: int = 2
    env: dict[str, str | None] = field(default_factory=dict)
    fresh_process: bool = False
    listing: bool = False  # `data check`: every problem listed on stdout, then a summary


def png(path: Path, size=(48, 48)) -> None:
    Image.fromarray(np.full((size[1], size[0]), 128, np.uint8)).save(path)


def bomb(path: Path) -> None:
    """A tiny PNG whose header claims 30000 x 30000 pixels (Pillow's decompression-bomb guard
    refuses it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def first_image(root: Path) -> Path:
    return root / "images" / "p000_0.png"


def _replace_image(harm: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda root: harm(first_image(root))


def _g(**changes):
    return lambda w: (["grid", "show", w.grid(**changes), "--task", "demo"], None)


KINDS: list[Kind] = []


def kind(id: str, expected: str, code: int = 2, env: dict | None = None,
         fresh_process: bool = False):
    def register(make: Callable[[World], list[str]]):
        KINDS.append(Kind(id, lambda w: (make(w), expected), code, env or {}, fresh_process))
        return make
    return register


def grid_kind(id: str, expected: str, **changes) -> None:
    """A grid mistake, through `run` (it must stop before any data is read or folder made)."""
    KINDS.append(Kind(id, lambda w: (w.run_args(grid=w.grid(**changes)), expected)))


def task_kind(id: str, expected: str, **changes) -> None:
    KINDS.append(Kind(id, lambda w: (["run", w.task(**changes), "--grid", w.grid(), "--data",
                                      str(w.phantom), "--out", str(w.root / "out")],
                                     expected)))


def data_kind(id: str, expected: str, change: Callable[[Path], None], command: str = "run"):
    def make(w: World) -> list[str]:
        data = w.data(change)
        if command == "check":
            return ["data", "check", "demo", "--data", data]
        return w.run_args(data=data)
    KINDS.append(Kind(f"{command}-{id}", lambda w: (make(w), expected),
                      listing=command == "check"))


# --- grids (through run) ---------------------------------------------------------------------
grid_kind("grid-lr-nan", "positive finite", settings=[{"freeze": "freezeall",
                                                       "lr": [float("nan")]}])
grid_kind("grid-lr-inf", "positive finite", settings=[{"freeze": "freezeall",
                                                       "lr": [float("inf")]}])
grid_kind("grid-lr-negative", "positive finite", settings=[{"freeze": "freezeall",
                                                            "lr": [-0.1]}])
grid_kind("grid-lr-zero", "positive finite", settings=[{"freeze": "freezeall", "lr": [0.0]}])
grid_kind("grid-lr-text", "valid number", settings=[{"freeze": "freezeall", "lr": ["fast"]}])
grid_kind("grid-lr-boolean", "not a boolean", settings=[{"freeze": "freezeall", "lr": [True]}])
grid_kind("grid-lr-empty", "at least 1 item", settings=[{"freeze": "freezeall", "lr": []}])
grid_kind("grid-lr-twice", "0.01 is listed twice", settings=[{"freeze": "freezeall",
                                                              "lr": [0.01, 0.01]}])
grid_kind("grid-seed-negative", "greater than or equal to 0", seeds=[-1])
grid_kind("grid-seed-boolean", "not a boolean", seeds=[True])
grid_kind("grid-seed-float", "valid integer", seeds=[1.5])
grid_kind("grid-seed-twice", "1 is listed twice", seeds=[1, 1])
grid_kind("grid-seeds-empty", "at least 1 item", seeds=[])
grid_kind("grid-seed-too-large", "less than or equal to 4294967295", seeds=[2**32])
grid_kind("grid-folds-twice", "folds: 0 is listed twice", folds=[0, 0])
grid_kind("grid-settings-twice", "freeze 'freezeall' with lr 0.01 is listed twice",
          settings=[{"freeze": "freezeall", "lr": [1e-2]},
                    {"freeze": "freezeall", "lr": [1e-3, 1e-2]}])
grid_kind("grid-folds-zero", "folds: 0 but task demo has 5 fold(s)", folds=0)
grid_kind("grid-folds-boolean", "not a boolean", folds=True)
grid_kind("grid-folds-too-many", "folds", folds=9)
grid_kind("grid-source-unknown", "unknown source 'imagenet21k'", sources=["imagenet21k"])
grid_kind("grid-source-twice", "'scratch' is listed twice", sources=["scratch", "scratch"])
grid_kind("grid-sources-empty", "at least 1 item", sources=[])
grid_kind("grid-backbone-unknown", "ResNet51", backbones=["ResNet51"])
grid_kind("grid-backbones-empty", "at least 1 item", backbones=[])
grid_kind("grid-freeze-unknown", "freezesome", settings=[{"freeze": "freezesome", "lr": [0.1]}])
grid_kind("grid-settings-empty", "at least 1 item", settings=[])
grid_kind("grid-probe-with-lr", "takes no lr", settings=[{"freeze": "probe", "lr": [1e-3]}])
grid_kind("grid-finetune-without-lr", "needs lr", settings=[{"freeze": "unfreezeall"}])
grid_kind("grid-unknown-key", "colour", colour="red")
grid_kind("grid-name-spaces", "name", name="my grid")
grid_kind("grid-epochs-zero", "greater than or equal to 1",
          overrides={"image_size": 32, "epochs": 0})
grid_kind("grid-epochs-boolean", "not a boolean", overrides={"image_size": 32, "epochs": True})
grid_kind("grid-image-size-tiny", "greater than or equal to 16", overrides={"image_size": 8})
grid_kind("grid-image-size-huge", "less than or equal to 1024", overrides={"image_size": 5000})
grid_kind("grid-image-size-below-backbone", "InceptionV3 needs image_size >= 75", overrides={"image_size": 16},
          backbones=["InceptionV3"])
grid_kind("grid-batch-zero", "greater than or equal to 1",
          overrides={"image_size": 32, "batch_size": 0})
grid_kind("grid-override-unknown", "learning_speed", overrides={"learning_speed": 2})
grid_kind("grid-normalization-unknown", "normalization", overrides={"normalization": "zscore"})
grid_kind("grid-precision-unknown", "precision", overrides={"precision": "float8"})
grid_kind("grid-dropout-one", "less than 1", overrides={"head_dropout": 1.0})
grid_kind("grid-axis-empty", "'image_size' lists no value", axes={"image_size": []})
grid_kind("grid-axis-unknown", "wingspan", axes={"wingspan": [1, 2]})
grid_kind("grid-fraction-zero", "greater than 0", axes={"train_fraction": [0.0]})
grid_kind("grid-fraction-above-one", "less than or equal to 1", axes={"train_fraction": [1.5]})
grid_kind("grid-fraction-boolean", "not a boolean", axes={"train_fraction": [True]})
grid_kind("grid-retries-negative", "greater than or equal to 0", execution={"retries": -1})

for _id, _text, _expected in (
        ("grid-duplicate-key", "name: g\nname: h\n", "key 'name' appears twice"),
        ("grid-yaml-syntax", "name: [g\n", "YAML"),
        ("grid-empty-file", "", "empty"),
        ("grid-a-list", "- a\n- b\n", "mapping"),
        ("grid-tabs", "name: g\n\tsources: x\n", "YAML"),
        # YAML features a hand-written grid meets (issue 27): an anchor never defined, a
        # Python tag (never constructed: safe loading), a second document in one file
        ("grid-yaml-undefined-alias", "name: g\nsources: [scratch]\nsettings: [{<<: *base, "
         "freeze: freezeall}]\n", "line 3: invalid YAML (found undefined alias 'base')"),
        ("grid-yaml-python-tag", "name: g\nsources: !!python/object:os.system [x]\n",
         "line 2: invalid YAML (could not determine a constructor"),
        ("grid-yaml-two-documents", "name: g\n---\nname: h\n",
         "line 2: invalid YAML (but found another document)"),
):
    KINDS.append(Kind(_id, lambda w, t=_text, e=_expected: (
        w.run_args(grid=w.text("bad.yaml", t)), e)))
KINDS.append(Kind("grid-not-utf8", lambda w: (
    w.run_args(grid=w.text("bad.yaml", b"name: \xff\xfe\n")), "not UTF-8 text")))
KINDS.append(Kind("grid-unknown-name", lambda w: (w.run_args(grid="smokey"),
                                                  "unknown grid 'smokey'")))
KINDS.append(Kind("grid-path-missing", lambda w: (w.run_args(grid=str(w.path("no.yaml"))),
                                                  "no.yaml")))
KINDS.append(Kind("grid-path-folder", lambda w: (w.run_args(grid=str(w.root)),
                                                "a folder, not a grid YAML file")))

# --- tasks (through run) ---------------------------------------------------------------------
task_kind("task-one-class", "at least 2 items", **{"classes.names": ["benign"]})
task_kind("task-positive-unknown", "cancer", **{"classes.positive": "cancer"})
task_kind("task-classes-twice", "the class names must differ", **{"classes.names": ["benign", "benign"]})
task_kind("task-adapter-unknown", "unknown adapter 'parquet'", **{"data.adapter": "parquet"})
task_kind("task-split-unknown", "scheme", **{"split.scheme": "random"})
task_kind("task-fractions-sum", "fractions", **{"split.fractions": [0.7, 0.2, 0.2]})
task_kind("task-folds-boolean", "not a boolean", **{"split.folds": True})
task_kind("task-unknown-key", "colour", colour="red")
task_kind("task-augmentation-negative", "greater than or equal to 0",
          **{"training.augmentation.rotation_degrees": -5})
task_kind("task-zoom-one", "less than 1", **{"training.augmentation.zoom": 1.0})
task_kind("task-csv-missing", "nope.csv", **{"data.csv": "nope.csv"})
task_kind("task-column-missing", "missing column(s) lesion", **{"data.columns.label": "lesion"})
task_kind("task-group-pattern-bad", "group_pattern", **{"data.group_pattern": "(unclosed"})
KINDS.append(Kind("task-unknown-name", lambda w: (
    ["run", "demox", "--grid", w.grid(), "--data", str(w.phantom)], "unknown task 'demox'")))
KINDS.append(Kind("task-not-utf8", lambda w: (
    ["run", w.text("t.yaml", b"name: \xff\n"), "--grid", w.grid()], "not UTF-8 text")))
KINDS.append(Kind("task-duplicate-key", lambda w: (
    ["run", w.text("t.yaml", "name: a\nname: b\n"), "--grid", w.grid()],
    "key 'name' appears twice")))

# --- run's options ---------------------------------------------------------------------------
kind("run-data-missing", "not found")(lambda w: w.run_args(data=str(w.path("nowhere"))))
kind("run-data-is-a-file", "a file, not a folder")(lambda w: w.run_args(data=w.grid()))
kind("run-sources-empty", "--sources: empty")(lambda w: w.run_args("--sources", ""))
kind("run-sources-unknown", "unknown source 'imagenet22k'")(
    lambda w: w.run_args("--sources", "imagenet22k"))
kind("run-source-file-missing", "not found")(
    lambda w: w.run_args("--sources", f"file:{w.path('w.weights.h5')}"))
kind("run-source-file-suffix", "expected a .h5")(
    lambda w: w.run_args("--sources", f"file:{w.text('w.txt', 'x')}"))
kind("run-source-text-as-h5", "is not an HDF5 weights file")(
    lambda w: w.run_args("--sources", f"file:{w.text('w.h5', 'weights, honest')}"))
kind("run-source-empty-h5", "(empty")(
    lambda w: w.run_args("--sources", f"file:{w.text('w.weights.h5', b'')}"))
kind("run-source-truncated-h5", "is a damaged HDF5 file")(
    lambda w: w.run_args("--sources", "file:" + w.text("w.h5", HDF5_HEADER + bytes(40))))
kind("run-source-keras-not-zip", "is not a Keras .keras file")(
    lambda w: w.run_args("--sources", "file:" + w.text("m.keras", ZIP_HEADER + b" no")))


def _nan_weights(w: World) -> list[str]:
    """MobileNetV3Small's own weights with one array NaN (issue 27: they passed the file check
    and failed every cell)."""
    import h5py

    from radbench.models.backbones import get_backbone

    path = w.path("nan.weights.h5")
    get_backbone("MobileNetV3Small").build(32).save_weights(path)
    with h5py.File(path, "r+") as handle:
        handle["layers/batch_normalization/vars/2"][...] = np.nan  # a moving mean
    return w.run_args("--sources", f"file:{path}")


kind("run-source-another-architecture", "does not load into MobileNetV3Small (ValueError: A "
     "total of")(lambda w: w.run_args("--sources",
                                      f"file:{foreign_weights(w.path('foreign.weights.h5'))}"))
kind("run-source-nan-weights", "holds non-finite values (NaN or infinity) in 1 of")(_nan_weights)
kind("run-source-backbone-file-missing", "for backbone MobileNetV3Small not found")(
    lambda w: w.run_args("--sources", f"file:{w.root}/{{backbone}}.weights.h5"))
kind("run-max-images-too-few", "greater than or equal to 8")(
    lambda w: w.run_args("--max-images", "3"))
kind("run-max-images-text", "Invalid value for '--max-images'")(
    lambda w: w.run_args("--max-images", "many"))
kind("run-max-parallel-zero", "'--max-parallel': Input should be greater than or equal to 1")(lambda w: w.run_args("--max-parallel", "0"))
kind("run-retries-negative", "'--retries': Input should be greater than or equal to 0")(lambda w: w.run_args("--retries", "-1"))
kind("run-gpus-words", "--gpus 'abc'")(lambda w: w.run_args("--gpus", "abc"))
kind("run-gpus-absent", "no GPU 7 on this machine", env={"CUDA_VISIBLE_DEVICES": ""})(
    lambda w: w.run_args("--gpus", "7"))
kind("run-executor-unknown", "--executor: unknown executor 'cloud'; expected one of local, slurm")(lambda w: w.run_args("--executor", "cloud"))
kind("run-split-unknown", "--split 'random'")(lambda w: w.run_args("--split", "random"))
kind("run-keep-weights-unknown", "--keep-weights 'some': expected all, best or none")(
    lambda w: w.run_args("--keep-weights", "some"))
kind("run-test-data-missing", "external site nowhere: ")(
    lambda w: w.run_args("--test-data", str(w.path("nowhere"))))
kind("run-unknown-option", "No such option: --epochs")(lambda w: w.run_args("--epochs", "3"))
kind("run-missing-grid", "Missing option '--grid'")(lambda w: ["run", "demo"])
kind("run-missing-task", "Missing argument")(lambda w: ["run"])
kind("run-out-is-a-file", "is a file, not a folder")(lambda w: w.run_args(out=w.grid()))
kind("run-out-below-a-file", "so no folder can be made below it")(
    lambda w: w.run_args(out=w.grid() + "/run"))
kind("run-cache-dir-is-a-file", "--cache-dir")(
    lambda w: w.run_args("--cache-dir", w.text("cache", "x")))
kind("run-cache-env-is-a-file", "image cache (set --cache-dir or RADBENCH_CACHE)")(
    lambda w: ["run", "demo", "--grid", w.text("g.yaml", yaml.safe_dump(World.GRID)), "--data",
               str(w.phantom), "--out", str(w.root / "out")])
KINDS[-1].env = {"RADBENCH_CACHE": "/etc/hostname"}
kind("run-published-without-splits", "no published split known")(
    lambda w: w.run_args("--split", "published", "--splits", str(w.path("no-splits"))))
kind("run-slurm-time-zero", "'--slurm-time': Input should be greater than or equal to 1")(
    lambda w: w.run_args("--executor", "slurm", "--slurm-time", "0"))
kind("run-executor-option-no-value", "--executor-option 'mem': expected KEY=VALUE")(
    lambda w: w.run_args("--executor-option", "mem"))
kind("run-executor-option-unknown", "--executor-option mem_gb: extra inputs are not permitted "
     "(--executor local)")(lambda w: w.run_args("--executor-option", "mem_gb=32"))
kind("run-slurm-flag-with-local", "--slurm-partition: a setting of --executor slurm")(
    lambda w: w.run_args("--slurm-partition", "gpu"))


# --- run folders in a bad state ----------------------------------------------------------------
def _damaged_run_json(w: World) -> list[str]:
    out = w.root / "out"
    out.mkdir()
    (out / "run.json").write_text('{"invocations": [')
    return w.run_args()


def _run_json_list(w: World) -> list[str]:
    out = w.root / "out"
    out.mkdir()
    (out / "run.json").write_text("[1, 2]")
    return w.run_args()


def _other_data(w: World) -> list[str]:
    from radbench.store import RunDir

    import pandas as pd
    RunDir(w.root / "out").data_dir("demo", "0123456789abcdef").write(
        pd.DataFrame({"case_id": ["a"]}), pd.DataFrame(),
        {"task": "demo", "data_id": "0123456789abcdef", "root": "/old",
         "counts": {"benign": 1}, "split_id": "s"})
    return w.run_args()


kind("run-damaged-run-json", "run.json: damaged")(_damaged_run_json)
kind("run-run-json-a-list", "run.json: damaged")(_run_json_list)
kind("run-changed-data", "already holds task demo on other data")(_other_data)
kind("resume-damaged-run-json", "run.json: damaged")(lambda w: [
    "resume", str(Path(_damaged_run_json(w)[-1]))])


# --- datasets ----------------------------------------------------------------------------------
def _unlink_image(root: Path) -> None:
    first_image(root).unlink()


for _command in ("run", "check"):
    data_kind("image-truncated", "p000_0.png", _replace_image(
        lambda p: p.write_bytes(p.read_bytes()[:60])), _command)
    data_kind("image-empty", "p000_0.png", _replace_image(lambda p: p.write_bytes(b"")), _command)
    data_kind("image-is-text", "p000_0.png", _replace_image(lambda p: p.write_text("hello")),
              _command)
    data_kind("image-bomb", "p000_0.png", _replace_image(bomb), _command)
    data_kind("image-missing", "p000_0.png", _unlink_image, _command)
    data_kind("manifest-missing", "manifest.csv",
              lambda root: (root / "manifest.csv").unlink(), _command)
    data_kind("manifest-empty", "manifest.csv",
              lambda root: (root / "manifest.csv").write_text(""), _command)
    data_kind("manifest-unknown-label", "tumour", lambda root: (root / "manifest.csv").write_text(
        (root / "manifest.csv").read_text().replace(",benign,p000", ",tumour,p000", 1)),
              _command)
    data_kind("manifest-not-utf8", "manifest.csv", lambda root: (root / "manifest.csv").write_bytes(
        (root / "manifest.csv").read_bytes().replace(b"p000_0", b"p\xff000_0", 1)), _command)
    data_kind("manifest-path-escapes", "..", lambda root: (root / "manifest.csv").write_text(
        (root / "manifest.csv").read_text().replace("images/p000_0.png",
                                                    "../../../etc/passwd", 1)), _command)
    data_kind("group-in-two-classes", "p000", lambda root: (root / "manifest.csv").write_text(
        (root / "manifest.csv").read_text().replace("images/p000_1.png,benign",
                                                    "images/p000_1.png,malignant", 1)),
              _command)
    data_kind("mask-missing", "mask", lambda root: (root / "masks" / "p000_0_mask.png").unlink(),
              _command)
    data_kind("one-class-left", "malignant", lambda root: (root / "manifest.csv").write_text(
        "\n".join(line for line in (root / "manifest.csv").read_text().splitlines()
                  if ",malignant," not in line) + "\n"), _command)
def folders_task(w: World, harm: Callable[[Path], None]) -> tuple[str, str]:
    """A class-folder dataset (the folders adapter) of 24 images, harmed by `harm`."""
    root = w.root / "folders"
    for label in ("benign", "malignant"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(12):
            png(root / label / f"{label}_{i}.png")
    harm(root)
    task = w.text("folders.yaml", yaml.safe_dump({
        "name": "folders", "data": {"adapter": "folders"},
        "classes": {"names": ["benign", "malignant"], "positive": "malignant"},
        "split": {"scheme": "kfold", "folds": 5}}))
    return task, str(root)


def _undecodable_name(root: Path) -> None:
    png(Path(os.fsdecode(bytes(root / "benign") + b"/scan\xff.png")))


def _one_malignant(root: Path) -> None:
    for extra in sorted((root / "malignant").iterdir())[1:]:
        extra.unlink()


def _folders_kind(id: str, harm: Callable[[Path], None], expected: str) -> None:
    for command in ("run", "check"):
        KINDS.append(Kind(f"{command}-{id}", lambda w, c=command: (
            (lambda task, data: ["data", "check", task, "--data", data] if c == "check" else
             ["run", task, "--grid", w.grid(), "--data", data, "--out", str(w.root / "out")])(
                *folders_task(w, harm)), expected), listing=command == "check"))


_folders_kind("class-of-one-image", _one_malignant, "class 'malignant' has 1 patient group(s)")
_folders_kind("class-folder-empty", lambda root: [p.unlink() for p in (root / "malignant").iterdir()],
              "malignant")
_folders_kind("orphan-mask", lambda root: png(root / "benign" / "gone_mask.png"),
              "gone_mask.png (its image is not there): image")
_folders_kind("image-bomb-in-folders", lambda root: bomb(root / "benign" / "huge.png"),
              "huge.png: refused")

for _command in ("run", "check"):
    KINDS.append(Kind(f"{_command}-file-name-not-utf8", lambda w, c=_command: (
        (lambda task, data: ["data", "check", task, "--data", data] if c == "check" else
         ["run", task, "--grid", w.grid(), "--data", data, "--out", str(w.root / "out")])(
            *folders_task(w, _undecodable_name)), "the file name is not valid UTF-8"),
        listing=_command == "check"))
kind("data-folder-empty", "manifest CSV not found")(lambda w: w.run_args(data=str(
    (w.root / "empty").mkdir() or w.root / "empty")))
kind("check-data-missing-folder", "not found")(
    lambda w: ["data", "check", "demo", "--data", str(w.path("nowhere"))])
kind("check-without-data", "pass --data PATH")(lambda w: ["data", "check", "breast"])
kind("check-unknown-task", "unknown task")(lambda w: ["data", "check", "nosuch", "--data",
                                                        str(w.phantom)])

# --- status, report, resume, cam, predict, export ------------------------------------------------
kind("status-missing", "no such run directory")(lambda w: ["status", str(w.path("none"))])
kind("status-a-file", "no such run directory")(lambda w: ["status", w.grid()])
kind("status-empty-folder", "no cells found")(lambda w: ["status", str(w.root)])
kind("status-watch-zero", "'--watch': Input should be greater than or equal to 1")(lambda w: ["status", str(w.run_dir()), "--watch", "0"])
kind("report-missing", "no cells found")(lambda w: ["report", str(w.path("none"))])
kind("report-format-unknown", "unknown 'pdf'")(lambda w: ["report", str(w.run_dir()),
                                                           "--format", "md,pdf"])
kind("report-metric-unknown", "f1")(lambda w: ["report", str(w.run_dir()), "--metric", "f1"])
kind("report-compare-one", "--compare")(lambda w: ["report", str(w.run_dir()),
                                                     "--compare", "scratch"])
kind("report-compare-unknown", "radimagenet")(lambda w: ["report", str(w.run_dir()),
                                                           "--compare", "scratch,radimagenet"])
kind("report-baseline-unknown", "radimagenet")(lambda w: ["report", str(w.run_dir()),
                                                            "--baseline", "radimagenet"])


def _damage(file: str, content: str) -> Callable[[World], list[str]]:
    def make(w: World) -> list[str]:
        out = w.run_dir()
        (out / "cells" / "scratch-0.01" / file).write_text(content)
        return ["report", str(out)]
    return make


kind("report-cell-json-truncated", "cell.json is not valid JSON")(
    _damage("cell.json", '{"cell": {"task"'))
kind("report-cell-json-missing-key", "cell.json lacks the key 'cell.source'")(
    _damage("cell.json", '{"cell": {"task": "demo"}}'))
kind("report-result-json-empty-object", "result.json is not a whole record")(
    _damage("result.json", "{}"))
kind("report-result-json-truncated", "result.json is not valid JSON")(
    _damage("result.json", '{"cell_id": "x", "te'))
kind("report-failure-json-bad", "failure.json is not a whole record")(
    _damage("failure.json", '{"reason": 3, "kind": []}'))


def _copied_result(w: World) -> list[str]:
    """Another cell's result.json copied into this cell's folder (issue 27: the lr=0.001 cell's
    AUC would have been reported for the lr=0.01 scenario)."""
    out = w.run_dir()
    shutil.copy(out / "cells" / "scratch-0.001" / "result.json",
                out / "cells" / "scratch-0.01" / "result.json")
    return ["report", str(out)]


def _result_value(key: str, value: str) -> Callable[[World], list[str]]:
    def make(w: World) -> list[str]:
        out = w.run_dir()
        file = out / "cells" / "scratch-0.01" / "result.json"
        data = json.loads(file.read_text())
        file.write_text(json.dumps(data).replace(f'"{key}": {json.dumps(data[key])}',
                                                 f'"{key}": {value}'))
        return ["report", str(out)]
    return make


kind("report-result-json-of-another-cell",
     "result.json holds cell scratch-0.001, not this folder's scratch-0.01")(_copied_result)
kind("report-result-auc-above-one", "test_auc: an AUC lies in [0, 1], not 7.5")(
    _result_value("test_auc", "7.5"))
kind("report-result-auc-nan", "test_auc: an AUC lies in [0, 1], not nan")(
    _result_value("test_auc", "NaN"))
kind("report-result-auc-negative", "an AUC lies in [0, 1], not -0.2")(
    _result_value("test_auc", "-0.2"))
kind("report-failure-json-of-another-cell", "failure.json holds cell scratch-0.001")(
    _damage("failure.json", '{"reason": "x", "kind": "crashed", "cell_id": "scratch-0.001"}'))


def _copied_cell_json(w: World) -> list[str]:
    out = w.run_dir()
    shutil.copy(out / "cells" / "imagenet-0.01" / "cell.json",
                out / "cells" / "scratch-0.01" / "cell.json")
    return ["report", str(out)]


kind("report-cell-json-of-another-cell", "cell.json holds cell imagenet-0.01")(_copied_cell_json)


LONG_NAME = "x" * 300  # over the 255 bytes a file name may have


kind("report-name-too-long", "is too long for the file system; give another path")(
    lambda w: ["report", str(w.path(LONG_NAME))])
kind("status-name-too-long", "is too long for the file system")(
    lambda w: ["status", str(w.path(LONG_NAME))])
kind("grid-show-name-too-long", "is too long for the file system")(
    lambda w: ["grid", "show", str(w.path(LONG_NAME + ".yaml"))])
kind("run-out-name-too-long", "is too long for the file system")(
    lambda w: w.run_args(out=str(w.path(LONG_NAME))))
kind("predict-out-name-too-long", "is too long for the file system")(lambda w: [
    "predict", str(w.run_dir()), "--data", str(w.phantom), "--out",
    str(w.path(LONG_NAME + ".csv"))])
kind("resume-missing", "not found")(lambda w: ["resume", str(w.path("none"))])
kind("resume-no-record", "run.json")(lambda w: ["resume", str(w.root)])
kind("cam-missing", "not a run directory")(lambda w: ["cam", str(w.path("none"))])
kind("cam-a-file", "not a run directory")(lambda w: ["cam", w.grid()])
kind("cam-threshold-above-one", "'--threshold': Input should be less than or equal to 1")(lambda w: ["cam", str(w.run_dir()),
                                                             "--threshold", "2"])
kind("predict-missing", "not found")(lambda w: ["predict", str(w.path("none")), "--data",
                                                  str(w.phantom)])
kind("predict-no-kept-model", "--keep-weights best")(lambda w: ["predict", str(w.run_dir()),
                                                             "--data", str(w.phantom)])
kind("export-missing", "not a run directory")(lambda w: ["export", "mlflow", str(w.path("x"))])


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:  # bound, never listening: a connection is refused at once
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# issue 27: a tracking server that is not there is one line, not minutes of retries
kind("export-mlflow-server-unreachable", "no MLflow server answered within")(
    lambda w: ["export", "mlflow", str(w.run_dir()), "--tracking-uri",
               f"http://127.0.0.1:{_closed_port()}"])
kind("export-mlflow-sqlite-below-a-file", "can be written")(
    lambda w: ["export", "mlflow", str(w.run_dir()), "--tracking-uri",
               f"sqlite:///{w.grid()}/mlflow.db"])

# --- grid show, task init, weights, pretrain ---------------------------------------------------
kind("grid-show-unknown", "unknown grid")(lambda w: ["grid", "show", "nosuch"])
kind("grid-show-task-unknown", "unknown task")(lambda w: ["grid", "show", "smoke", "--task",
                                                            "nosuch"])
kind("task-init-bad-name", "name")(lambda w: ["task", "init", "bad name!", "--layout", "csv",
                                                "--data", str(w.phantom / "manifest.csv"),
                                                "--positive", "malignant", "--out",
                                                str(w.path("new.yaml"))])
kind("task-init-data-missing", "not found")(lambda w: [
    "task", "init", "x", "--layout", "folders", "--data", str(w.path("none")), "--out",
    str(w.path("new.yaml"))])
kind("task-init-layout-unknown", "--layout 'tree': expected folders or csv")(lambda w: [
    "task", "init", "x", "--layout", "tree", "--data", str(w.phantom)])
kind("task-init-exists", "--force")(lambda w: [
    "task", "init", "x", "--layout", "csv", "--data", str(w.phantom / "manifest.csv"), "--out",
    w.grid()])
kind("task-init-one-class", "class")(lambda w: [
    "task", "init", "x", "--layout", "folders", "--data",
    str((w.root / "one" / "only").mkdir(parents=True) or png(w.root / "one/only/a.png")
        or w.root / "one"), "--positive", "only", "--out", str(w.path("new.yaml"))])
kind("weights-import-unknown-source", "imagenet")(lambda w: ["weights", "import", "imagenet",
                                                               str(w.root)])
kind("weights-import-missing-folder", "not found")(lambda w: [
    "weights", "import", "radimagenet", str(w.path("none"))])
kind("weights-import-empty-folder", "RadImageNet-")(lambda w: [
    "weights", "import", "radimagenet", str((w.root / "w").mkdir() or w.root / "w")])
kind("pretrain-out-suffix", "must end in .weights.h5")(lambda w: [
    "pretrain", "phantom", "--backbone", "MobileNetV3Small", "--out", str(w.path("w.h5")),
    "--data", f"phantom={w.phantom}"])
kind("pretrain-corpus-unknown", "unknown corpus")(lambda w: [
    "pretrain", "nosuch", "--backbone", "MobileNetV3Small", "--out",
    str(w.path("w.weights.h5"))])
kind("pretrain-backbone-unknown", "ResNet51")(lambda w: [
    "pretrain", "phantom", "--backbone", "ResNet51", "--out", str(w.path("w.weights.h5"))])
kind("pretrain-data-malformed", "--data phantom=PATH")(lambda w: [
    "pretrain", "phantom", "--backbone", "MobileNetV3Small", "--out",
    str(w.path("w.weights.h5")), "--data", "phantom"])

kind("weights-inspect-backbone-unknown", "ResNet51")(lambda w: [
    "weights", "inspect", "scratch", "--backbone", "ResNet51"])
kind("weights-inspect-file-missing", "not found")(lambda w: [
    "weights", "inspect", f"file:{w.path('w.weights.h5')}", "--backbone", "ResNet50"])
kind("weights-inspect-file-not-hdf5", "is not an HDF5 weights file")(lambda w: [
    "weights", "inspect", "file:" + w.text("w.weights.h5", "text"), "--backbone", "ResNet50"])
kind("weights-inspect-task-without-data", "pass --data PATH")(lambda w: [
    "weights", "inspect", "scratch", "--backbone", "ResNet50", "--task", "breast"])

kind("weights-export-format-unknown", "--format 'tflite'")(lambda w: [
    "weights", "export", "scratch", "--backbone", "ResNet50", "--format", "tflite", "--out",
    str(w.path("x.tflite"))])
kind("weights-export-inception-refused", "count the zero padding")(lambda w: [
    "weights", "export", "scratch", "--backbone", "InceptionV3", "--format", "torchvision",
    "--out", str(w.path("x.pth"))])
kind("weights-export-irv2-torchvision", "torchvision has no InceptionResNetV2")(lambda w: [
    "weights", "export", "scratch", "--backbone", "InceptionResNetV2", "--format",
    "torchvision", "--out", str(w.path("x.pth"))])
kind("weights-export-keras-suffix", "must end in .weights.h5")(lambda w: [
    "weights", "export", "scratch", "--backbone", "MobileNetV3Small", "--format", "keras",
    "--out", str(w.path("x.h5"))])
kind("weights-export-missing-out", "Missing option '--out'")(lambda w: [
    "weights", "export", "scratch", "--backbone", "ResNet50"])
kind("weights-export-out-exists", "already exists; add --force to overwrite it")(lambda w: [
    "weights", "export", "scratch", "--backbone", "ResNet50", "--out",
    w.text("mine.pth", b"someone's weights")])
kind("weights-export-out-a-folder", "is a folder; expected a file path")(lambda w: [
    "weights", "export", "scratch", "--backbone", "ResNet50", "--out", str(w.root)])
kind("predict-out-exists", "already exists; add --force to overwrite it")(lambda w: [
    "predict", str(w.run_dir()), "--data", str(w.phantom), "--out",
    w.text("scores.csv", "case_id,score\n")])
kind("predict-out-below-a-file", "is a file, so no folder can be made below it")(lambda w: [
    "predict", str(w.run_dir()), "--data", str(w.phantom), "--out",
    str(Path(w.text("a-file", "x")) / "scores.csv")])

# --- the environment (a fresh process: the backend is chosen at import) ------------------------
kind("env-keras-backend-bogus", "KERAS_BACKEND='theano'", env={"KERAS_BACKEND": "theano"},
     fresh_process=True)(lambda w: w.run_args())
kind("env-keras-backend-numpy", "KERAS_BACKEND='numpy': radbench trains with",
     env={"KERAS_BACKEND": "numpy"})(lambda w: w.run_args())
kind("env-xdg-cache-a-file", "image cache (set --cache-dir or RADBENCH_CACHE)",
     env={"RADBENCH_CACHE": None, "XDG_CACHE_HOME": "/etc/hostname"})(lambda w: w.run_args())

def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def invoke(argv: list[str], env: dict[str, str], fresh: bool) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, raised): `raised` when a traceback escaped."""
    if fresh:
        environ = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
        done = subprocess.run([sys.executable, "-m", "radbench.cli", *argv], capture_output=True,
                              text=True, cwd=REPO, env=environ, timeout=300)
        return done.returncode, done.stdout, done.stderr, "Traceback" in done.stderr
    result = CliRunner().invoke(__import__("radbench.cli", fromlist=["app"]).app, argv, env=env)
    raised = result.exception is not None and not isinstance(result.exception, SystemExit)
    if raised:
        import traceback

        traceback.print_exception(result.exception)
    return result.exit_code, result.stdout, result.stderr, raised


def test_the_corpus_has_over_100_kinds():
    assert len(KINDS) >= 100, len(KINDS)
    assert len({k.id for k in KINDS}) == len(KINDS)


@pytest.mark.parametrize("bad", KINDS, ids=[k.id for k in KINDS])
def test_bad_input(bad: Kind, tmp_path, phantom_root):
    world = World(tmp_path / "w", phantom_root)
    world.root.mkdir()
    argv, expected = bad.make(world)
    before = snapshot(world.root)
    phantom_before = snapshot(phantom_root)
    code, stdout, stderr, raised = invoke(argv, bad.env, bad.fresh_process)
    assert not raised, f"traceback for {bad.id}:\n{stderr[-3000:]}"
    assert code == bad.code, (code, stderr[-2000:])
    summary = re.search(r"^\d+ error\(s\), \d+ warning\(s\)$", stdout, re.M)
    if bad.listing and summary:  # per image: one `error:` line naming it, then a summary
        errors = [line for line in stdout.splitlines() if line.lower().startswith("error:")]
        assert errors and any(expected in line for line in errors), stdout[-3000:]
    else:  # a dataset that cannot be listed stops at its first problem, as run does
        errors = [line for line in stderr.splitlines() if line.lower().startswith("error:")]
        assert len(errors) == 1, stderr[-3000:]
        assert expected in errors[0], errors[0]
        assert stderr.strip().splitlines()[-1] == errors[0], stderr[-2000:]
    assert not LIBRARY_NOISE.search(stderr), stderr[-2000:]
    assert "Traceback" not in stderr + stdout
    assert snapshot(world.root) == before, "something was written or changed"
    assert snapshot(phantom_root) == phantom_before
