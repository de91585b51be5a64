"""The executor interface: an executor registered in one entry runs a grid's cells."""

from __future__ import annotations

import pytest
import yaml

from radbench.errors import ConfigError
from radbench.execute import registry
from radbench.execute.executor import ExecutionSummary, Executor, ExecutorSettings
from radbench.runner import RunOptions, run_grid

pytestmark = pytest.mark.usefixtures("eager")  # cells trained without tracing (conftest)


class RecordingExecutor(Executor):
    """Marks every cell done by writing nothing: records what it was given."""

    name = "recording"
    seen: list = []

    def check(self) -> None:
        if self.settings.max_parallel == 99:
            raise ConfigError("--max-parallel 99: too many for the recording executor")

    def execute(self, cells, labels, policy, console) -> ExecutionSummary:
        RecordingExecutor.seen = [(cell.id, labels[cell.id], policy.retries) for cell in cells]
        return ExecutionSummary(not_started=list(cells))


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setitem(registry.EXECUTORS, "recording", registry.ExecutorEntry(
        "tests.execute.test_executor:RecordingExecutor", "records what it was given"))
    return RecordingExecutor


def grid_file(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({
        "name": "g", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "freezeall", "lr": [0.01, 0.001]}], "folds": 1,
        "execution": {"retries": 3}, "overrides": {"image_size": 32, "epochs": 1}}))
    return str(path)


def test_a_registered_executor_gets_the_cells_to_run(tmp_path, phantom_root, recording):
    out = tmp_path / "run"
    summary = run_grid(RunOptions(task="demo", grid=grid_file(tmp_path), data=str(phantom_root),
                                  out=out, executor="recording"))
    assert [label for _, label, _ in recording.seen] == [
        "demo scratch MobileNetV3Small freezeall lr=0.01 seed=0 fold=0",
        "demo scratch MobileNetV3Small freezeall lr=0.001 seed=0 fold=0"]
    assert {retries for _, _, retries in recording.seen} == {3}
    assert sorted(p.name for p in (out / "cells").iterdir()) == sorted(i for i, _, _ in
                                                                     recording.seen)
    assert summary.not_started == 2 and summary.done == 0


def test_bad_executor_settings_stop_before_anything_is_written(tmp_path, phantom_root,
                                                               recording):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="too many for the recording executor"):
        run_grid(RunOptions(task="demo", grid=grid_file(tmp_path), data=str(phantom_root),
                            out=out, executor="recording", max_parallel=99))
    with pytest.raises(ConfigError, match="--executor: unknown executor 'nosuch'; expected one "
                                          "of local, slurm, recording"):
        run_grid(RunOptions(task="demo", grid=grid_file(tmp_path), data=str(phantom_root),
                            out=out, executor="nosuch"))
    assert not out.exists()


def test_the_shipped_executors_are_local_and_slurm():
    assert list(registry.EXECUTORS) == ["local", "slurm"]
    assert registry.executors_help().startswith("local: slots on this machine")
    with pytest.raises(ConfigError, match="--gpus 'x'"):
        registry.make_executor("local", ExecutorSettings(out=None, grid=None, gpus="x"))


def test_a_stand_in_executor_in_one_module_and_one_entry_runs_a_grid(tmp_path, phantom_root,
                                                                     monkeypatch):
    """tests/execute/standin_executor.py and the registry entry below are all it takes: its
    options come from the grid's executors.inline section and --executor-option, its cells
    train in cell processes, and status asks its queue view."""
    from radbench.execute.state import cell_state, run_states
    from radbench.store import RunDir
    from tests.execute.standin_executor import InlineExecutor

    monkeypatch.setitem(registry.EXECUTORS, "inline", registry.ExecutorEntry(
        "tests.execute.standin_executor:InlineExecutor", "one cell process after another"))
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "g", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "knn"}], "folds": [0, 1],
        "overrides": {"image_size": 32}, "executors": {"inline": {"tag": "mine"}}}))
    out = tmp_path / "run"
    InlineExecutor.ran = []
    summary = run_grid(RunOptions(task="demo", grid=str(grid), data=str(phantom_root), out=out,
                                  executor="inline", executor_options={"order": "reverse"}))
    assert summary.done == 2 and not summary.failed
    cells = sorted(RunDir(out).cells(), key=lambda c: c.config().cell.fold)
    assert InlineExecutor.ran == [cells[1].id, cells[0].id]  # the command line's order
    assert all(c.result().test_auc >= 0 for c in cells)
    assert '"slot": "mine"' in cells[0].attempts_file.read_text()  # the grid's tag

    queue = tmp_path / "queue.json"
    queue.write_text('["j1"]')
    waiting = RunDir(out).cell("waiting")
    waiting.write_config(cells[0].config().model_copy(update={"cell_id": "waiting"}))
    waiting.write_submitted({"executor": "inline", "job_id": "j1", "queue": str(queue)})
    assert {s.cell.id: s.detail for s in run_states(out)}["waiting"] == "inline job j1"
    queue.write_text("[]")
    assert cell_state(waiting, queued=registry.queued_jobs([waiting.submitted()])).state == \
        "stale"
    with pytest.raises(ConfigError, match=r"--executor-option order: input should be 'forward' "
                                          r"or 'reverse' \(--executor inline\)"):
        run_grid(RunOptions(task="demo", grid=str(grid), data=str(phantom_root), out=out,
                            executor="inline", executor_options={"order": "sideways"}))
