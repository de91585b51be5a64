"""Cell states from the cell directory alone: done, running, stale, failed, queued, pending."""

from __future__ import annotations

import json
import re
import time

import pytest

from radbench.execute.heartbeat import Heartbeat
from radbench.execute.state import count_states, cell_state, run_states
from radbench.atomic import atomic_write_json
from tests.conftest import run_cli
from tests.execute.conftest import write_cell


def beat(cell, age_s: float, **fields):
    atomic_write_json(cell.heartbeat_file, {"time": time.time() - age_s, "host": "h", "pid": 1,
                                            "attempt": 1, **fields})


def test_each_state_from_the_files(tmp_path, lock_holder):
    pending = write_cell(tmp_path, "pending")
    assert cell_state(pending).state == "pending"

    done = write_cell(tmp_path, "done")
    atomic_write_json(done.result_file, {"cell_id": done.id, "fold": 0, "test_auc": 0.7,
                                         "distinct_test_scores": 40})
    beat(done, 1000)  # a result wins over anything left behind
    assert cell_state(done).state == "done" and not cell_state(done).degenerate

    failed = write_cell(tmp_path, "failed")
    failed.record_failure("ValueError: boom", "ValueError")
    state = cell_state(failed)
    assert state.state == "failed" and "boom" in state.detail and "log.txt" in state.detail

    running = write_cell(tmp_path, "running")
    lock_holder(running.lock_file)
    beat(running, 2, epoch=3, epochs=30, slot="gpu1", slurm_job_id="12_4")
    state = cell_state(running, stale_s=60)
    assert state.state == "running" and state.epoch == "3/30"
    assert "gpu1" in state.detail and "12_4" in state.detail
    # the same heartbeat, too old: the process hangs, the cell counts as stale
    assert cell_state(running, stale_s=1).state == "stale"

    killed = write_cell(tmp_path, "killed")  # heartbeat left, nobody holds the lock
    beat(killed, 2)
    state = cell_state(killed, stale_s=60)
    assert state.state == "stale" and "ended without a result" in state.detail

    early = write_cell(tmp_path, "early")  # killed between its attempt record and heartbeat
    early.append_attempt({"attempt": 1})
    assert cell_state(early).state == "stale"

    queued = write_cell(tmp_path, "queued")
    atomic_write_json(queued.submitted_file, {"job_id": "7_0"})
    assert cell_state(queued, queued={"7_0"}).state == "queued"
    assert cell_state(queued, queued=None).state == "queued"  # squeue unknown: trust the record
    assert cell_state(queued, queued={"8_0"}).state == "stale"  # the job is gone

    counts = count_states(run_states(tmp_path, ask_queues=False))
    assert counts == {"done": 1, "running": 1, "stale": 2, "failed": 1, "queued": 1,
                      "pending": 1, "damaged": 0}


def test_a_heartbeat_from_the_future_or_damaged_goes_stale_on_this_hosts_clock(
        tmp_path, lock_holder):
    """Issue 27: a heartbeat written by a clock a day ahead read "heartbeat -86398 s ago" and
    never went stale. It is judged by the file's time, stamped by this host, and says so."""
    import os

    ahead = write_cell(tmp_path, "ahead")
    lock_holder(ahead.lock_file)  # the process seems alive: it holds the lock
    beat(ahead, -86_400, epoch=2, epochs=30)
    state = cell_state(ahead, stale_s=60)
    assert state.state == "running" and "heartbeat 0 s ago" in state.detail
    assert re.search(r"its writer's clock is 8640\d s ahead of this host's", state.detail)
    old = time.time() - 600  # its writer stopped beating ten minutes ago
    os.utime(ahead.heartbeat_file, (old, old))
    state = cell_state(ahead, stale_s=60)
    assert state.state == "stale" and "no heartbeat for 10 min" in state.detail
    assert "-86" not in state.detail
    for damaged in ("[1, 2]", '{"time": "soon", "epoch": "x"}', "{"):
        ahead.heartbeat_file.write_text(damaged)
        os.utime(ahead.heartbeat_file, (old, old))
        state = cell_state(ahead, stale_s=60)
        assert state.state == "stale" and state.epoch == "", damaged
        assert "heartbeat.json is damaged; judged by its file time" in state.detail, damaged


def test_status_of_a_run_with_a_damaged_heartbeat_names_it(tmp_path):
    """`radbench status` on a damaged heartbeat.json gave a traceback (issue 27)."""
    cell = write_cell(tmp_path, "beaten")
    cell.heartbeat_file.write_text('{"time": "yesterday", "epoch": [3]}')
    done = run_cli("status", str(tmp_path), "--all")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "heartbeat.json is damaged" in done.stdout


def test_heartbeat_beats_records_the_epoch_and_goes_away(tmp_path):
    cell = write_cell(tmp_path)
    heartbeat = Heartbeat(cell, interval=0.05, attempt=2).start()
    first = cell.heartbeat()
    assert first["attempt"] == 2 and first["pid"] > 0 and first["host"]
    time.sleep(0.3)
    assert cell.heartbeat()["time"] > first["time"]
    heartbeat.update(epoch=2, epochs=5)
    assert cell.heartbeat()["epoch"] == 2
    heartbeat.stop()
    assert not cell.heartbeat_file.exists()


def test_a_degenerate_cell_is_loud_in_status(tmp_path):
    """Done, but every test case got the same score: its AUC says nothing, and status says so
    (counted, listed without --all, marked in the JSON)."""
    from radbench.store import CellResult

    for name, distinct, spread in (("flat", 1, 0.0), ("nearly", 3, 2e-5), ("fine", 30, 0.6)):
        cell = write_cell(tmp_path, name)
        cell.write_result(CellResult(cell_id=name, fold=0, test_auc=0.5,
                                     distinct_test_scores=distinct, test_score_range=spread))
    data = json.loads(run_cli("status", str(tmp_path), "--json").stdout)
    assert data["counts"]["done"] == 3 and data["degenerate"] == 2
    assert {c["cell_id"]: c["degenerate"] for c in data["cells"]} == {
        "flat": True, "nearly": True, "fine": False}
    text = " ".join(run_cli("status", str(tmp_path)).stdout.split())  # the table folds lines
    assert "2 done cell(s) DEGENERATE" in text and text.count("DEGENERATE") == 3
    flat = next(c for c in data["cells"] if c["cell_id"] == "flat")
    assert flat["detail"].startswith("degenerate: 1 distinct test score(s), range 0.0e+00; its "
                                     "AUC 0.500 is ties")


def test_status_command_counts_and_lists_cells(tmp_path):
    write_cell(tmp_path, "a")
    failed = write_cell(tmp_path, "b", lr=1e-2)
    failed.record_failure("MemoryError: out of memory", "out_of_memory")
    shown = run_cli("status", str(tmp_path), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["counts"]["pending"] == 1 and data["counts"]["failed"] == 1
    text = run_cli("status", str(tmp_path))
    assert "failed 1" in text.stdout and "out_of_memory" in text.stdout
    missing = run_cli("status", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no such run directory" in missing.stderr
    not_a_run = run_cli("resume", str(tmp_path))
    assert not_a_run.returncode == 2 and "run.json" in not_a_run.stderr
    assert not_a_run.stderr.count("\n") == 1


def test_status_all_lists_done_cells_in_scenario_order_with_auc_and_time(tmp_path):
    import io

    from rich.console import Console

    from radbench.execute.status_view import print_status
    from radbench.store import CellResult
    from tests.execute.conftest import write_cell

    for name, lr, auc in (("z", 1e-2, 0.81), ("a", 1e-4, 0.62), ("m", 1e-3, 0.7)):
        cell = write_cell(tmp_path, name, lr=lr)
        cell.write_result(CellResult(cell_id=name, fold=0, test_auc=auc,
                                     distinct_test_scores=5, test_score_range=0.3,
                                     timings={"total_s": 75.0}))
    console = Console(file=io.StringIO(), width=200)
    print_status(tmp_path, console, show_all=True)
    text = console.file.getvalue()
    rows = [line for line in text.splitlines() if line.lstrip().startswith("done")]
    assert [r.split("lr=")[1].split()[0] for r in rows] == ["0.0001", "0.001", "0.01"]
    assert "AUC 0.620 in 1 min 15 s" in rows[0]


def test_status_never_imports_keras(tmp_path):
    """`radbench status` reads files only: no Keras or TensorFlow start-up (time, log lines)."""
    import subprocess
    import sys

    from tests.execute.conftest import write_cell

    write_cell(tmp_path, "a")
    code = ("import io, sys; from pathlib import Path; from rich.console import Console; "
            "from radbench.execute.status_view import print_status; "
            f"print_status(Path({str(tmp_path)!r}), Console(file=io.StringIO()), True); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("file, content, said", [
    ("result.json", '{"cell_id": "x", "fold": 0, "test_a', "result.json is not valid JSON"),
    ("result.json", "{}", "result.json is not a whole record (cell_id: field required)"),
    ("failure.json", '{"reason": 5, "kind": []}', "failure.json is not a whole record"),
    ("cell.json", '{"cell": {"task": "t"', "cell.json is not valid JSON"),
    ("cell.json", '{"cell": {"task": "t", "source": "scratch"}}',
     "cell.json lacks the key 'cell.backbone'"),
])
def test_a_damaged_file_is_its_own_state(tmp_path, file, content, said):
    """A damaged cell.json, result.json or failure.json is named (never a done cell left out
    of the table, a vanished cell or an 'interrupted' one), and the report refuses the run."""
    from radbench.errors import DataError
    from radbench.report.collect import collect_cells
    from radbench.store import RunDir

    whole = write_cell(tmp_path, "whole")
    atomic_write_json(whole.result_file, {"cell_id": whole.id, "fold": 0, "test_auc": 0.7,
                                          "distinct_test_scores": 40})
    cell = write_cell(tmp_path, "hurt")
    (cell.path / file).write_text(content)
    states = {s.cell.id: s for s in run_states(tmp_path, ask_queues=False)}
    assert states[cell.id].state == "damaged" and said in states[cell.id].detail
    assert states[whole.id].state == "done"
    assert [c.id for c, _ in RunDir(tmp_path).damaged()] == [cell.id]
    with pytest.raises(DataError, match=re.escape(f"{cell.id}: damaged, {said}")):
        collect_cells(tmp_path)
