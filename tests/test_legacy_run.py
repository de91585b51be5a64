"""A run directory written by radbench 0.1.0 (tests/fixtures/run_0_1_0, see MADE.md there) stays
readable: `status`, `report` and `resume` of the current code read it, and `resume` trains none of
its finished cells."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import REPO, run_cli

FIXTURE = REPO / "tests" / "fixtures" / "run_0_1_0"
CELLS = ["183c3fdaa298f97d", "7b5aee319f9bcaf6"]


@pytest.fixture
def legacy_run(tmp_path) -> Path:
    """The fixture copied into tmp_path with its phantom data made again (same generator, same
    parameters, so the same data id) and run.json pointing at the copies."""
    from radbench.data.phantom import generate_phantom

    data = generate_phantom(tmp_path / "phantom", patients_per_class=10, images_per_patient=2,
                            size=48)
    out = tmp_path / "run"
    shutil.copytree(FIXTURE, out, ignore=shutil.ignore_patterns("MADE.md", "grid.yaml"))
    grid = shutil.copy(FIXTURE / "grid.yaml", tmp_path / "grid.yaml")
    record = json.loads((out / "run.json").read_text())
    for invocation in record["invocations"]:
        invocation["options"].update(data=str(data), grid=str(grid))
    (out / "run.json").write_text(json.dumps(record))
    return out


def test_status_reads_the_old_run(legacy_run):
    done = run_cli("status", str(legacy_run), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    states = json.loads(done.stdout)
    cells = states["cells"] if isinstance(states, dict) else states
    assert sorted((c["cell_id"], c["state"]) for c in cells) == [(c, "done") for c in CELLS]


def test_report_reads_the_old_run(legacy_run):
    done = run_cli("report", str(legacy_run), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    cells = pd.read_csv(legacy_run / "report_cells.csv", dtype={"cell_id": str})
    assert sorted(cells["cell_id"]) == CELLS
    for cell_id in CELLS:  # the AUC of each cell is the one its stored predictions give
        predictions = pd.read_csv(legacy_run / "cells" / cell_id / "predictions.csv")
        expected = roc_auc_score(predictions["y_true"], predictions["y_score"])
        stored = json.loads((legacy_run / "cells" / cell_id / "result.json").read_text())
        assert stored["test_auc"] == pytest.approx(expected)
        assert cells.set_index("cell_id").loc[cell_id, "auc"] == pytest.approx(expected)


def test_resume_trains_none_of_the_finished_cells(legacy_run):
    before = {c: (legacy_run / "cells" / c / "result.json").read_bytes() for c in CELLS}
    attempts = {c: (legacy_run / "cells" / c / "attempts.jsonl").read_text() for c in CELLS}
    done = run_cli("resume", str(legacy_run))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 cell(s) already done" in done.stderr
    # both stored cells gave every test case one score: the summary says so, loudly
    assert "warning: 2 finished cell(s) are DEGENERATE" in done.stderr
    assert sorted(p.name for p in (legacy_run / "cells").iterdir()) == CELLS  # no new ids
    for cell_id in CELLS:
        assert (legacy_run / "cells" / cell_id / "result.json").read_bytes() == before[cell_id]
        assert (legacy_run / "cells" / cell_id / "attempts.jsonl").read_text() == \
            attempts[cell_id]
