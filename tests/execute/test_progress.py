"""The progress view: one row per slot with its cell and epoch on a terminal, plain lines
elsewhere; every failure names the cell's log."""

from __future__ import annotations

import io

from rich.console import Console

from radbench.execute.heartbeat import Heartbeat
from radbench.execute.attempt import Outcome
from radbench.execute.progress import GridProgress
from radbench.execute.slots import make_slots
from tests.execute.conftest import write_cell


def test_live_view_shows_each_slot_its_cell_and_epoch(tmp_path):
    slots = make_slots("cpu", max_parallel=2)
    first, second = write_cell(tmp_path, "a"), write_cell(tmp_path, "b")
    labels = {"a": "cell A", "b": "cell B"}
    console = Console(file=io.StringIO(), force_terminal=True, width=120, record=True)
    progress = GridProgress(3, slots, labels, console, live=False)
    progress.started(first, slots[0], 1)
    heartbeat = Heartbeat(first, interval=60).start()
    heartbeat.update(epoch=2, epochs=5)
    progress.refresh(progress.running)
    console.print(progress.render())
    text = console.export_text()
    assert "cpu0" in text and "cell A" in text and "2/5" in text
    assert "cpu1" in text and "idle" in text
    assert "running 1" in text and "left 2" in text
    heartbeat.stop()
    progress.started(second, slots[1], 1)
    progress.finished(Outcome(first, slots[0], False, 12.0, "ValueError: x (log: L)", "ValueError"))
    console.print(progress.render())
    assert "failed 1" in console.export_text()


def test_plain_mode_prints_lines_with_slot_and_log(tmp_path):
    slots = make_slots("cpu", max_parallel=1)
    cell = write_cell(tmp_path, "a")
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=200)
    with GridProgress(1, slots, {"a": "cell A"}, console) as progress:
        progress.started(cell, slots[0], 2)
        progress.finished(Outcome(cell, slots[0], False, 3.0, f"boom (log: {cell.log_file})",
                                  "crashed", final=False))
        progress.retrying(cell, "batch size 16 -> 8 after running out of memory")
    text = stream.getvalue()
    assert "[cpu0] start cell A (attempt 2)" in text and str(cell.log_file) in text
    assert "will retry" in text and "16 -> 8" in text


def test_a_degenerate_cell_is_marked_as_it_finishes(tmp_path):
    from radbench.store import CellResult

    slots = make_slots("cpu", max_parallel=1)
    flat, fine = write_cell(tmp_path, "flat"), write_cell(tmp_path, "fine", lr=1e-2)
    flat.write_result(CellResult(cell_id="flat", fold=0, test_auc=0.5, distinct_test_scores=1))
    fine.write_result(CellResult(cell_id="fine", fold=0, test_auc=0.81,
                                 distinct_test_scores=40, test_score_range=0.7))
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=200)
    with GridProgress(2, slots, {"flat": "cell F", "fine": "cell G"}, console) as progress:
        progress.finished(Outcome(flat, slots[0], True, 3.0))
        progress.finished(Outcome(fine, slots[0], True, 3.0))
    lines = stream.getvalue().splitlines()
    assert any("cell F: AUC 0.500 DEGENERATE (every test case got the same score)" in line
               for line in lines)
    assert any("cell G: AUC 0.810 (3 s)" in line for line in lines)
    assert "done 2 (1 DEGENERATE)" in stream.getvalue()


def test_eta_moves_from_the_first_epoch_on(tmp_path, monkeypatch):
    """Before any cell ends, the running cells' finished epochs give the ETA; it no longer
    grows while a last cell runs."""
    import radbench.execute.progress as progress_module

    clock = [1000.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    slots = make_slots("cpu", max_parallel=1)
    cell = write_cell(tmp_path, "a")
    progress = GridProgress(2, slots, {"a": "cell A"}, Console(file=io.StringIO()), live=False)
    progress.started(cell, slots[0], 1)
    assert progress.eta() == "ETA ?"
    heartbeat = Heartbeat(cell, interval=60).start()
    heartbeat.update(epoch=3, epochs=4)  # 2 of 4 epochs done: half a cell of 2
    clock[0] += 100.0
    progress.refresh(progress.running)
    heartbeat.stop()
    assert progress.work_done() == 0.5
    assert progress.eta() == "ETA 5:00"  # 100 s for 0.5 cell, 1.5 cells left
