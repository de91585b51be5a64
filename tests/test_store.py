"""Atomic writes and cell statuses."""

import json

import pandas as pd

from radbench.store import DONE, FAILED, PENDING, CellDir, atomic_write_json, atomic_write_text, \
    iter_cells


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    atomic_write_json(tmp_path / "a" / "y.json", {"k": 1})
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.txt", "y.json"]
    assert json.loads((tmp_path / "a" / "y.json").read_text()) == {"k": 1}


def test_status_follows_the_files(tmp_path):
    cell = CellDir(tmp_path / "cells" / "abc")
    atomic_write_json(cell.config_file, {"cell": {}})
    assert cell.status() == PENDING
    cell.record_failure("ValueError: bad", "ValueError")
    assert cell.status() == FAILED and cell.failure()["reason"] == "ValueError: bad"
    cell.result_file.write_text("{truncated")  # a torn write is not a result
    assert cell.status() == FAILED
    atomic_write_json(cell.result_file, {"test_auc": 0.7})
    assert cell.status() == DONE
    cell.clear_outputs()
    assert cell.status() == DONE and not cell.failure_file.exists()
    assert [c.id for c in iter_cells(tmp_path)] == ["abc"]
