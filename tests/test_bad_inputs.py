"""Bad inputs and faults of issue 18 (the first ones fixed): each ends with one line on stderr,
exit code 2, no traceback, and nothing written or lost."""

from __future__ import annotations

import pytest
import yaml

from radbench.store import RunDir
from tests.conftest import run_cli
from tests.test_end_to_end import two_cell_grid

pytestmark = pytest.mark.usefixtures("eager")  # cells trained without tracing (conftest)


def one_line_error(done, expected: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = [line for line in done.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_damaged_run_record_is_reported_not_replaced(tmp_path, phantom_root):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"invocations": [{"argv": ["radbench", "run"')  # cut short
    before = (out / "run.json").read_bytes()
    done = run_cli("run", "demo", "--grid", str(two_cell_grid(tmp_path)), "--data",
                   str(phantom_root), "--out", str(out))
    one_line_error(done, "run.json: damaged")
    assert (out / "run.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_a_run_directory_refuses_changed_data(tmp_path, phantom_root):
    out = tmp_path / "run"
    RunDir(out).data_dir("demo", "0123456789abcdef").write(
        __import__("pandas").DataFrame({"case_id": ["a"]}), __import__("pandas").DataFrame(),
        {"task": "demo", "data_id": "0123456789abcdef", "root": "/old/data",
         "counts": {"benign": 10, "malignant": 10}, "split_id": "s"})
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    done = run_cli("run", "demo", "--grid", str(two_cell_grid(tmp_path)), "--data",
                   str(phantom_root), "--out", str(out))
    one_line_error(done, "already holds task demo on other data (data id 0123456789abcdef")
    assert "use a new --out" in done.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


@pytest.mark.parametrize("content, expected", [
    (b"this is text, not weights", "is not an HDF5 weights file"),
    (b"", "is not an HDF5 weights file (empty"),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 40, "is a damaged HDF5 file"),
])
def test_a_bad_weights_file_stops_before_training(tmp_path, phantom_root, content, expected):
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(content)
    out = tmp_path / "run"
    done = run_cli("run", "demo", "--grid", str(two_cell_grid(tmp_path)), "--data",
                   str(phantom_root), "--out", str(out), "--sources", f"file:{weights}")
    one_line_error(done, expected)
    assert not out.exists()


def test_a_keras_file_that_is_no_zip(tmp_path, phantom_root):
    weights = tmp_path / "m.keras"
    weights.write_bytes(b"PK\x03\x04 not really")
    done = run_cli("run", "demo", "--grid", str(two_cell_grid(tmp_path)), "--data",
                   str(phantom_root), "--out", str(tmp_path / "run"), "--sources",
                   f"file:{weights}")
    one_line_error(done, "is not a Keras .keras file")


@pytest.mark.parametrize("change, expected", [
    ({"settings": [{"freeze": "freezeall", "lr": [float("nan")]}]}, "positive finite"),
    ({"settings": [{"freeze": "freezeall", "lr": [float("inf")]}]}, "positive finite"),
    ({"seeds": [-1]}, "greater than or equal to 0"),
    ({"settings": [{"freeze": "probe", "lr": [1e-3]}]}, "takes no lr"),
    ({"settings": [{"freeze": "unfreezeall"}]}, "needs lr"),
    ({"axes": {"train_fraction": [0.0]}}, "greater than 0"),
    ({"axes": {"train_fraction": [1.5]}}, "less than or equal to 1"),
])
def test_impossible_grid_numbers_are_refused(tmp_path, change, expected):
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "g", "sources": ["scratch"], "backbones": ["MobileNetV3Small"], "folds": 1,
        "settings": [{"freeze": "freezeall", "lr": [1e-2]}], **change}))
    one_line_error(run_cli("grid", "show", str(grid), "--task", "demo"), expected)


def test_cam_on_a_missing_folder(tmp_path):
    one_line_error(run_cli("cam", str(tmp_path / "absent")), "not a run directory")


@pytest.mark.parametrize("text, expected", [
    ("name: g\nsources: [scratch]\nsources: [imagenet]\nbackbones: [MobileNetV3Small]\n"
     "settings: [{freeze: freezeall, lr: [0.01]}]\n", "key 'sources' appears twice"),
    ("name: g\nsources: [scratch]\nbackbones: [MobileNetV3Small]\n"
     "settings: [{freeze: freezeall, lr: [0.01, 0.01]}]\n", "0.01 is listed twice"),
    ("name: g\nsources: [scratch, scratch]\nbackbones: [MobileNetV3Small]\n"
     "settings: [{freeze: freezeall, lr: [0.01]}]\n", "'scratch' is listed twice"),
    ("name: g\nsources: [scratch]\nbackbones: [MobileNetV3Small]\nseeds: [1, 1]\n"
     "settings: [{freeze: freezeall, lr: [0.01]}]\n", "1 is listed twice"),
    ("name: g\nsources: [scratch]\nbackbones: [MobileNetV3Small]\naxes: {image_size: []}\n"
     "settings: [{freeze: freezeall, lr: [0.01]}]\n", "'image_size' lists no value"),
])
def test_grid_yaml_mistakes_are_refused(tmp_path, text, expected):
    grid = tmp_path / "g.yaml"
    grid.write_text(text)
    one_line_error(run_cli("grid", "show", str(grid), "--task", "demo"), expected)


def test_a_grid_that_is_not_utf8(tmp_path):
    grid = tmp_path / "g.yaml"
    grid.write_bytes(b"name: \xff\xfe\n")
    one_line_error(run_cli("grid", "show", str(grid), "--task", "demo"), "not UTF-8 text")


def test_empty_sources_and_a_data_file(tmp_path, phantom_root):
    grid = str(two_cell_grid(tmp_path))
    out = tmp_path / "run"
    one_line_error(run_cli("run", "demo", "--grid", grid, "--data", str(phantom_root), "--out",
                           str(out), "--sources", ""), "--sources: empty")
    afile = tmp_path / "data.txt"
    afile.write_text("x")
    one_line_error(run_cli("run", "demo", "--grid", grid, "--data", str(afile), "--out",
                           str(out)), "a file, not a folder")
    assert not out.exists()


def test_hostile_files_are_listed_by_data_check_and_skipped_by_skip_bad(tmp_path):
    """A decompression bomb (a tiny PNG whose header claims 30000 x 30000 pixels) and a file
    name that is not UTF-8: `data check` lists both, `run` refuses with one line, and
    `--skip-bad` leaves exactly those two out and runs."""
    import os
    from pathlib import Path

    from tests.test_bad_input_corpus import World, bomb, folders_task, png

    def harm(root: Path) -> None:
        bomb(root / "malignant" / "huge.png")
        png(Path(os.fsdecode(bytes(root / "benign") + b"/scan\xff.png")))

    task, data = folders_task(World(tmp_path, tmp_path), harm)
    check = run_cli("data", "check", task, "--data", data)
    assert check.returncode == 2 and "Traceback" not in check.stderr
    assert "huge.png: refused, its header claims more pixels" in check.stdout
    assert "scan\\xff.png: the file name is not valid UTF-8" in check.stdout
    assert "2 error(s)" in check.stdout
    grid = str(two_cell_grid(tmp_path))
    one_line_error(run_cli("run", task, "--grid", grid, "--data", data, "--out",
                           str(tmp_path / "run")), "fails the integrity check with 2 error(s)")
    skipped = run_cli("run", task, "--grid", grid, "--data", data, "--out",
                      str(tmp_path / "run"), "--skip-bad", "--dry-run")
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert "task folders: 24 images" in skipped.stderr
    assert "--skip-bad left out 2 image(s)" in skipped.stderr


def test_a_backend_that_is_not_installed_stops_at_once(monkeypatch):
    from radbench.errors import ConfigError
    from radbench.quiet import BACKEND_MODULES, check_backend

    monkeypatch.setitem(BACKEND_MODULES, "torch", "no_such_torch_package")
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(ConfigError, match="KERAS_BACKEND=torch: the torch package is not "
                                          "installed in this environment"):
        check_backend()
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", "/nonexistent")
    assert check_backend() == "tensorflow"
