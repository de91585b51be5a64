"""The run directory's contract: literal file names, atomic writes, typed records, states."""

import json
import os

import pandas as pd
import pytest

from radbench.cellspec import Cell
from radbench.config.schema import Training
from radbench.store import CellDir, CellFailure, CellResult, CellState, RunDir
from radbench.atomic import atomic_write_json, atomic_write_text
from tests.conftest import cell_record


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    atomic_write_json(tmp_path / "a" / "y.json", {"k": 1})
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.txt", "y.json"]
    assert json.loads((tmp_path / "a" / "y.json").read_text()) == {"k": 1}


def test_the_layout_is_pinned(tmp_path):
    """Stored runs are read by later versions: these names never change."""
    run = RunDir(tmp_path)
    cell = run.cell("abc")
    data = run.data_dir("breast", "d1")
    relative = {name: str(getattr(owner, name).relative_to(tmp_path)) for owner, names in (
        (run, ["run_file", "run_lock_file", "cells_root", "data_root", "slurm_dir",
               "submissions_file", "cells_index_file"]),
        (cell, ["config_file", "split_file", "log_file", "attempts_file", "heartbeat_file",
                "overrides_file", "submitted_file", "history_file", "predictions_file",
                "weights_file", "localization_file", "localization_summary_file", "result_file",
                "failure_file", "lock_file", "val_predictions_file", "keep_file", "model_file",
                "tensorboard_dir"]),
        (data, ["manifest_file", "splits_file", "info_file", "check_file", "skipped_file"]),
    ) for name in names}
    assert relative == {
        "run_file": "run.json", "run_lock_file": ".run.lock", "cells_root": "cells",
        "cells_index_file": "cells.csv",
        "data_root": "data", "slurm_dir": "slurm", "submissions_file": "slurm/submissions.jsonl",
        "config_file": "cells/abc/cell.json", "split_file": "cells/abc/split.csv",
        "log_file": "cells/abc/log.txt", "attempts_file": "cells/abc/attempts.jsonl",
        "heartbeat_file": "cells/abc/heartbeat.json", "overrides_file": "cells/abc/overrides.json",
        "submitted_file": "cells/abc/submitted.json", "history_file": "cells/abc/history.csv",
        "predictions_file": "cells/abc/predictions.csv",
        "weights_file": "cells/abc/model.weights.h5",
        "localization_file": "cells/abc/localization.csv",
        "localization_summary_file": "cells/abc/localization.json",
        "result_file": "cells/abc/result.json", "failure_file": "cells/abc/failure.json",
        "lock_file": "cells/abc/.lock",
        "val_predictions_file": "cells/abc/val_predictions.csv", "keep_file": "cells/abc/keep.json",
        "model_file": "cells/abc/model.keras", "tensorboard_dir": "cells/abc/tensorboard",
        "manifest_file": "data/breast-d1/manifest.csv", "splits_file": "data/breast-d1/splits.csv",
        "info_file": "data/breast-d1/data.json", "check_file": "data/breast-d1/check.json",
        "skipped_file": "data/breast-d1/skipped.csv"}
    assert cell.run == run and cell.id == "abc"


def test_state_follows_the_files(tmp_path):
    cell = RunDir(tmp_path).cell("abc")
    cell.write_config(cell_record(Cell("breast", "scratch", "ResNet50", "freezeall", 1e-3, 0, 0,
                                       Training()), "abc"))
    assert cell.stored_state() == CellState.PENDING
    cell.record_failure("ValueError: bad", "ValueError", attempt=1)
    assert cell.stored_state() == CellState.FAILED
    assert cell.failure() == CellFailure(reason="ValueError: bad", kind="ValueError", attempt=1,
                                         cell_id="abc", log=str(cell.log_file))
    cell.result_file.write_text("{truncated")  # a torn write is not a result
    assert cell.stored_state() == CellState.FAILED
    atomic_write_json(cell.result_file, {"test_auc": 0.7})  # nor is a file without its fields
    assert cell.result() is None and cell.stored_state() == CellState.FAILED
    cell.write_result(CellResult(cell_id="abc", fold=0, test_auc=0.7, distinct_test_scores=1))
    assert cell.stored_state() == CellState.DONE and cell.result().degenerate
    cell.clear_outputs()
    assert cell.stored_state() == CellState.DONE and not cell.failure_file.exists()
    assert [c.id for c in RunDir(tmp_path).cells()] == ["abc"]
    assert cell.data().path == tmp_path / "data" / "breast-d0"


def test_records_keep_fields_they_do_not_know(tmp_path):
    """A result.json of another version keeps its extra fields through a read and a write."""
    cell = CellDir(tmp_path / "c")
    atomic_write_json(cell.result_file, {"cell_id": "c", "fold": 2, "test_auc": 0.8,
                                         "source": "scratch", "from_the_future": [1, 2]})
    result = cell.result()
    assert (result.fold, result.source, result.from_the_future) == (2, "scratch", [1, 2])
    cell.write_result(result)
    assert json.loads(cell.result_file.read_text())["from_the_future"] == [1, 2]


def test_cell_state_prints_as_its_value():
    assert f"{CellState.STALE:>7}" == "  stale" and str(CellState.DONE) == "done"
    assert CellState("queued") is CellState.QUEUED and CellState.FAILED == "failed"
    assert json.dumps({"state": CellState.RUNNING}) == '{"state": "running"}'


def test_json_lines_skip_a_line_cut_by_a_kill(tmp_path):
    cell = CellDir(tmp_path / "c")
    cell.append_attempt({"attempt": 1})
    with cell.attempts_file.open("a") as stream:
        stream.write('{"attempt": 2, "pi')
    assert cell.attempts() == [{"attempt": 1}]


def test_data_dir_is_whole_only_once_data_json_is_written(tmp_path):
    data = RunDir(tmp_path).data_dir("t", "d")
    assert not data.exists() and RunDir(tmp_path).data_dirs() == []
    data.write(pd.DataFrame({"case_id": ["a"]}), pd.DataFrame({"case_id": ["a"], "fold": [0]}),
               {"task": "t"}, skipped=pd.DataFrame())
    assert data.exists() and not data.skipped_file.exists()
    assert RunDir(tmp_path).data_dirs() == [data] and data.info() == {"task": "t"}
    assert data.manifest()["case_id"].tolist() == ["a"]


@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755),
                                                       (0o077, 0o600, 0o700),
                                                       (0o002, 0o664, 0o775)])
def test_atomic_writes_and_scratch_folders_honour_the_umask(tmp_path, umask, file_mode, dir_mode):
    from radbench.atomic import atomic_write_json, make_temporary_dir

    previous = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "result.json", {"a": 1})
        folder = make_temporary_dir(".building-", tmp_path)
    finally:
        os.umask(previous)
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == file_mode
    assert folder.stat().st_mode & 0o777 == dir_mode


def test_cells_index_names_each_folder_by_its_scenario(tmp_path):
    run = RunDir(tmp_path)
    for cell_id, lr in (("b2", 1e-3), ("a1", 1e-2)):
        run.cell(cell_id).write_config(cell_record(
            Cell("breast", "imagenet", "ResNet50", "freezeall", lr, 0, 2, Training()), cell_id))
    index = pd.read_csv(run.write_cells_index())
    assert index.to_dict("records") == [
        {"cell_id": "a1", "task": "breast", "source": "imagenet", "backbone": "ResNet50",
         "freeze": "freezeall", "lr": 0.01, "seed": 0, "fold": 2, "folder": "cells/a1"},
        {"cell_id": "b2", "task": "breast", "source": "imagenet", "backbone": "ResNet50",
         "freeze": "freezeall", "lr": 0.001, "seed": 0, "fold": 2, "folder": "cells/b2"}]


def test_cell_json_is_read_as_its_typed_record_everywhere():
    """cell.json crosses every process boundary: outside store.py nobody reads it as a dict."""
    import re
    from pathlib import Path

    import radbench

    package = Path(radbench.__file__).parent
    dict_reads = re.compile(r"config\(\)\s*(\[|or\s*\{\}|\.get\()")
    found = [f"{path.relative_to(package)}:{number}: {line.strip()}"
             for path in package.rglob("*.py") if path.name != "store.py"
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if dict_reads.search(line)]
    assert found == []


def test_the_previous_versions_cell_json_reads_as_a_typed_record():
    from pathlib import Path

    from radbench.cellspec import CellConfig

    fixture = Path(__file__).parent / "fixtures" / "run_0_1_0" / "cells"
    for folder in sorted(fixture.iterdir()):
        cell = CellDir(folder)
        config = cell.config()
        assert isinstance(config, CellConfig) and cell.config_damage() is None
        stored = json.loads(cell.config_file.read_text())
        assert config.cell_id == folder.name == stored["cell_id"]
        assert config.cell.to_dict()["training"].items() >= stored["cell"]["training"].items()
        assert (config.task.name, config.data.data_id, config.grid) == (
            "demo", stored["data"]["data_id"], "legacy")


def test_a_cell_json_with_a_value_of_the_wrong_kind_is_damaged(tmp_path):
    cell = RunDir(tmp_path).cell("abc")
    cell.write_config(cell_record(Cell("breast", "scratch", "ResNet50", "freezeall", 1e-3, 0, 0,
                                       Training()), "abc"))
    stored = json.loads(cell.config_file.read_text())
    assert cell.config() is not None and cell.config().to_json() == stored
    stored["cell"]["lr"] = "fast"
    atomic_write_json(cell.config_file, stored)
    assert cell.config() is None and cell.damage() == cell.config_damage()
    assert cell.config_damage().startswith("cell.json is not a whole record (cell.lr: ")
    del stored["cell"]["seed"]
    atomic_write_json(cell.config_file, stored)
    assert cell.config_damage() == "cell.json lacks the key 'cell.seed'"


def _two_done_cells(root):
    run = RunDir(root)
    cells = []
    for lr, auc in ((1e-2, 0.61), (1e-3, 0.83)):
        cell = run.cell(f"c{lr}")
        spec = Cell("demo", "scratch", "MobileNetV3Small", "freezeall", lr, 0, 0, Training())
        cell.write_config(cell_record(spec, cell.id))
        cell.write_result(CellResult(cell_id=cell.id, fold=0, test_auc=auc, **spec.scenario()))
        cells.append(cell)
    return cells


def test_a_record_of_another_cell_is_damaged_not_trusted(tmp_path):
    """Issue 27: result.json copied from the lr=0.001 cell into the lr=0.01 cell's folder gave
    that scenario the other cell's AUC. The id inside a record must be its folder's."""
    from radbench.execute.state import cell_state

    first, second = _two_done_cells(tmp_path)
    assert first.result().test_auc == 0.61
    first.result_file.write_bytes(second.result_file.read_bytes())
    assert first.result() is None and first.stored_state() == CellState.PENDING
    assert first.damage() == ("result.json holds cell c0.001, not this folder's c0.01 (copied "
                              "from another cell's folder?)")
    status = cell_state(first)
    assert status.state == CellState.DAMAGED and "the same `radbench run`" in status.detail
    assert [c.id for c, _ in RunDir(tmp_path).damaged()] == ["c0.01"]
    second.record_failure("boom", "crashed")  # failure records carry the id too
    assert json.loads(second.failure_file.read_text())["cell_id"] == "c0.001"
    first.result_file.unlink()
    first.failure_file.write_bytes(second.failure_file.read_bytes())
    assert first.failure() is None and "failure.json holds cell c0.001" in first.damage()
    first.failure_file.unlink()
    first.config_file.write_bytes(second.config_file.read_bytes())
    assert first.config() is None and "cell.json holds cell c0.001" in first.damage()


@pytest.mark.parametrize("key, value, said", [
    ("test_auc", 7.5, "test_auc: an AUC lies in [0, 1], not 7.5"),
    ("test_auc", float("nan"), "test_auc: an AUC lies in [0, 1], not nan"),
    ("best_val_auc", -1.0, "best_val_auc: an AUC lies in [0, 1], not -1.0"),
    ("best_val_loss", float("inf"), "best_val_loss: a finite number was expected, not inf"),
    ("metrics", {"accuracy": float("nan")}, "metrics: metric 'accuracy' is nan"),
])
def test_a_value_outside_its_domain_damages_the_result(tmp_path, key, value, said):
    (cell, _) = _two_done_cells(tmp_path)
    stored = json.loads(cell.result_file.read_text())
    stored[key] = value
    atomic_write_json(cell.result_file, stored)
    assert cell.result() is None and said in cell.damage()


def test_undefined_numbers_are_stored_as_none():
    from radbench.cellrecords import auc_or_none, finite_or_none

    assert [finite_or_none(v) for v in (0.3, float("nan"), float("inf"), None)] == [
        0.3, None, None, None]
    assert [auc_or_none(v) for v in (0.0, 1.0, -1.0, 1.5, float("nan"))] == [
        0.0, 1.0, None, None, None]
