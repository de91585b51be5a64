"""Bad input on the command line: one line, exit code 2, nothing written."""


import pytest
from typer.testing import CliRunner

from radbench.cli import app
from tests.conftest import run_cli

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("args, expected", [
    (["run", "nosuchtask", "--grid", "smoke"], "unknown task 'nosuchtask'"),
    (["run", "breast", "--grid", "nosuchgrid"], "unknown grid 'nosuchgrid'"),
    (["run", "breast", "--grid", "smoke"], "no dataset folder; pass --data"),
    (["run", "breast", "--grid", "smoke", "--data", "/nonexistent"], "dataset folder not found"),
    (["run", "breast", "--grid", "full", "--data", "/nonexistent"], "source 'imagenet'"),
    (["run", "breast", "--grid", "smoke", "--sources", "file:/no/w.h5", "--data", "/x"],
     "weights file /no/w.h5 not found"),
    (["grid", "show", "smoke", "--task", "nosuch"], "unknown task"),
    (["report", "/nonexistent/run"], "no cells found"),
])
def test_errors_are_one_line_exit_2_nothing_written(tmp_path, args, expected):
    out = tmp_path / "out"
    if args[0] == "run":
        args = args + ["--out", str(out)]
    code, output = invoke(*args)
    assert code == 2, output
    assert expected in output
    assert output.strip().count("\n") == 0 and "Traceback" not in output
    assert not out.exists()


def test_split_too_small_for_the_data_writes_nothing(tmp_path, busi_root):
    out = tmp_path / "out"
    code, output = invoke("run", "breast", "--grid", "smoke", "--data", str(busi_root),
                          "--max-images", "10", "--out", str(out))
    assert code == 2 and "error:" in output
    assert not out.exists()


def test_corrupt_image_stops_before_training(tmp_path, phantom_root):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(phantom_root, data)
    (data / "images" / "p003_1.png").write_bytes(b"")
    out = tmp_path / "out"
    code, output = invoke("run", "demo", "--grid", "smoke", "--data", str(data), "--out", str(out))
    assert code == 2 and "p003_1.png: empty file" in output
    assert not out.exists()


def test_grid_show_json():
    import json

    code, output = invoke("grid", "show", "full", "--json")
    cells = json.loads(output)
    assert code == 0 and len(cells) == 240
    assert set(cells[0]) >= {"backbone", "source", "freeze", "lr", "fold", "seed"}


def test_dry_run_writes_nothing(tmp_path, phantom_root):
    out = tmp_path / "out"
    code, output = invoke("run", "demo", "--grid", "smoke", "--data", str(phantom_root),
                          "--out", str(out), "--dry-run")
    assert code == 0 and output.count("new ") == 6
    assert not out.exists()


def test_task_init_refuses_to_guess(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        (tmp_path / "d" / cls / "x.png").write_bytes(b"")
    code, output = invoke("task", "init", "pets", "--layout", "folders", "--data",
                          str(tmp_path / "d"), "--out", str(tmp_path / "pets.yaml"))
    assert code == 2 and "--positive" in output and "cats, dogs" in output
    assert not (tmp_path / "pets.yaml").exists()


def test_a_real_process_prints_no_traceback(tmp_path):
    done = run_cli("run", "breast", "--grid", "smoke", "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: task breast: no dataset folder")
    assert "Traceback" not in done.stderr


def test_task_init_prints_counts_groups_and_the_grouping_warning(tmp_path):
    from PIL import Image

    for cls, patients in (("normal", ("a1", "a2", "a3")), ("covid", ("b1", "b2"))):
        for patient in patients:
            for k in range(2):
                path = tmp_path / "d" / cls / f"{patient}_s{k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("L", (8, 8), 40 * k).save(path)
    code, output = invoke("task", "init", "ct", "--layout", "folders", "--data",
                          str(tmp_path / "d"), "--positive", "covid", "--out",
                          str(tmp_path / "ct.yaml"))
    assert code == 0, output
    assert "normal 6 images in 6 groups, covid 4 images in 4 groups" in output
    assert "warning: no --group-pattern" in output
    code, output = invoke("task", "init", "ct", "--layout", "folders", "--data",
                          str(tmp_path / "d"), "--positive", "covid", "--group-pattern",
                          r"^(\w+?)_", "--out", str(tmp_path / "ct.yaml"), "--force")
    assert code == 0 and "normal 6 images in 3 groups, covid 4 images in 2 groups" in output
    assert "warning" not in output
