"""Whole runs in fresh processes, as a user types them: BUSI with two sources, resume after a
kill, failures recorded, and a class-folder dataset started with `radbench task init`."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from radbench.ids import file_sha256
from tests.conftest import REPO, run_cli


@pytest.fixture(scope="session")
def smoke_weights(tmp_path_factory) -> Path:
    """A notop MobileNetV3Small weights file (64 px), as `file:` sources take."""
    from radbench.models.backbones import get_backbone

    path = tmp_path_factory.mktemp("weights") / "mnv3-notop.weights.h5"
    get_backbone("MobileNetV3Small").build(64).save_weights(path)
    return path


STAMP = "%Y-%m-%dT%H:%M:%S%z"


def results(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*/result.json"))]


# TensorFlow's native start-up lines (absl, oneDNN, CPU features): kept off the terminal
TF_LOG_LINE = re.compile(r"absl::|oneDNN|cpu_feature_guard|TF_ENABLE_ONEDNN_OPTS|^[IWE]\d{4} ",
                         re.MULTILINE)


@pytest.mark.slow  # the default suite's runs are smaller (tests/execute, tests/test_predict.py)
def test_busi_smoke_grid_two_sources_report_and_rerun(tmp_path, busi_root, smoke_weights,
                                                      eager):
    """The smoke grid on real BUSI images with two sources, untraced (the traced grid: the
    demo's test)."""
    out = tmp_path / "runs" / "b"
    args = ["run", "breast", "--grid", "smoke", "--data", str(busi_root), "--out", str(out),
            "--sources", f"scratch,file:{smoke_weights}", "--max-images", "60",
            "--max-parallel", "2"]
    mask = os.umask(0o022)  # files as any tool writes them, whatever radbench does inside
    try:
        first = run_cli(*args)
    finally:
        os.umask(mask)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not TF_LOG_LINE.search(first.stderr), first.stderr[:2000]
    stored = results(out)
    assert len(stored) == 12
    modes = {p.relative_to(out).parts[0]: oct(p.stat().st_mode & 0o777)
             for p in sorted(out.rglob("*"))}
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_file()} == {"0o644"}
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_dir()} == {"0o755"}
    assert set(modes) >= {"cells", "data", "run.json", "cells.csv"}
    index = pd.read_csv(out / "cells.csv")  # the hash folders, by what they ran
    assert sorted(index["cell_id"]) == sorted(r["cell_id"] for r in stored)
    for result in stored:  # every number traces back to the stored predictions
        cell = out / "cells" / result["cell_id"]
        predictions = pd.read_csv(cell / "predictions.csv")
        assert result["test_auc"] == pytest.approx(roc_auc_score(predictions["y_true"],
                                                                 predictions["y_score"]))
        assert len(predictions) == result["n_images"]["test"]
        assert (cell / "history.csv").is_file() and (cell / "cell.json").is_file()
        assert result["versions"]["keras"] and result["split_id"]
    # two CPU slots ran cells side by side: each cell's one attempt names its slot, and some
    # attempts overlap in time
    spans, slots = [], set()
    for result in stored:
        lines = (out / "cells" / result["cell_id"] / "attempts.jsonl").read_text().splitlines()
        (attempt,) = [json.loads(line) for line in lines]
        slots.add(attempt["slot"])
        spans.append((datetime.strptime(attempt["started"], STAMP),
                      datetime.strptime(result["finished"], STAMP)))
    assert slots == {"cpu0", "cpu1"}
    assert any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans, 2))
    file_results = [r for r in stored if r["source"].startswith("file:")]
    assert {r["source_sha256"] for r in file_results} == {file_sha256(smoke_weights)}

    report = run_cli("report", str(out), "--json")
    assert report.returncode == 0, report.stderr
    assert not TF_LOG_LINE.search(report.stderr), report.stderr[:2000]  # Grad-CAM loaded Keras
    data = json.loads(report.stdout)
    overall = [r for r in data["table"] if r["backbone"] == "all"]
    assert {r["source"] for r in overall} == {"scratch", "file:mnv3-notop.weights.h5"}
    for row in overall:  # one fold: a scenario's AUC is its cell's
        mine = [r["test_auc"] for r in stored
                if (r["source"] == "scratch") == (row["source"] == "scratch")]
        assert row["n"] == len(mine) == 6
        assert (row["mean"], row["min"], row["max"]) == pytest.approx(
            (np.mean(mine), min(mine), max(mine)))
    assert data["cells"]["done"] == 12 and data["scenarios"]["complete"] == 12
    assert (out / "report.md").is_file() and (out / "report.csv").is_file()
    assert any("own group" in note for note in data["notes"])
    # issue 5's check: paired Wilcoxon with n, bootstrap CI, localization Dice, HTML report
    (comparison,) = data["comparisons"]
    assert comparison["n_pairs"] == 6 and comparison["wilcoxon_p"] is not None
    assert comparison["ci_low"] <= comparison["median_difference"] <= comparison["ci_high"]
    assert {r["source"] for r in data["localization"]} == {"scratch", "file:mnv3-notop.weights.h5"}
    for row in data["localization"]:  # the mean over the cells' own localization.json
        dice = [json.loads((out / "cells" / r["cell_id"] / "localization.json").read_text())
                ["dice"] for r in stored if (r["source"] == "scratch") == (row["source"] ==
                                                                           "scratch")]
        assert row["dice_mean"] == pytest.approx(np.mean(dice))
    assert len(data["cell_intervals"]) == 12 and (out / "report.html").is_file()
    printed = run_cli("report", str(out))
    assert "Wilcoxon" in printed.stdout and "Dice" in printed.stdout
    # issue 16: the HTML of this two-source BUSI run in headless Chromium, as the last
    # report wrote it
    from tests.report.test_html import check_html_in_chromium

    check_html_in_chromium(out / "report.html", extra_figures=("gradcam",))
    # another metric as the headline and in the paired tests, checked against scikit-learn
    from tests.test_predict import balanced_accuracies

    chosen = json.loads(run_cli("report", str(out), "--json", "--format", "json", "--metric",
                                "balanced_accuracy").stdout)
    for row in [r for r in chosen["table"] if r["backbone"] == "all"]:
        expected = balanced_accuracies(out, scratch=row["source"] == "scratch")
        assert (row["n"], row["mean"]) == (6, pytest.approx(np.mean(expected)))
    (comparison,) = chosen["comparisons"]
    assert comparison["mean_difference"] == pytest.approx(
        np.mean(balanced_accuracies(out, scratch=False))
        - np.mean(balanced_accuracies(out, scratch=True)))

    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/result.json")}
    again = run_cli(*args)
    assert again.returncode == 0 and "12 already done" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def two_cell_grid(tmp_path: Path) -> Path:
    grid = tmp_path / "two.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "two", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "freezeall", "lr": [1e-2, 1e-3]}], "folds": 1,
        "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16}}))
    return grid


@pytest.mark.slow  # tests/execute/test_local.py covers recorded failures in the default suite
def test_failing_cell_is_recorded_and_the_grid_goes_on(tmp_path, phantom_root, eager,
                                                        monkeypatch):
    """The lr=0.01 cell diverges (injected: tests/faults), the lr=0.001 cell trains."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests" / "faults"),
                                                      str(REPO)]))
    monkeypatch.setenv("RADBENCH_TEST_DIVERGE_LR", "0.01")
    out = tmp_path / "run"
    grid = tmp_path / "two.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "two", "sources": ["scratch"], "backbones": ["MobileNetV3Small"],
        "settings": [{"freeze": "freezeall", "lr": [1e-2, 1e-3]}], "folds": 1,
        "overrides": {"image_size": 32, "epochs": 1, "batch_size": 16}}))
    args = ["run", "demo", "--grid", str(grid), "--data", str(phantom_root), "--out", str(out)]
    done = run_cli(*args)
    assert done.returncode == 1
    failures = list((out / "cells").glob("*/failure.json"))
    assert len(failures) == 1 and len(results(out)) == 1
    reason = json.loads(failures[0].read_text())["reason"]
    assert reason and "\n" not in reason
    assert "failed:" in done.stderr and "log.txt" in done.stderr
    skipped = run_cli(*args)
    assert skipped.returncode == 1 and "1 failed earlier" in skipped.stderr
    assert "fault of the machine" not in skipped.stderr  # the cell's own failure: it stays
    retried = run_cli(*args, "--retry-failed")
    assert retried.returncode == 1 and "1 failed now" in retried.stderr
    report = json.loads(run_cli("report", str(out), "--json").stdout)
    assert report["cells"]["failed"] == 1 and report["cells"]["done"] == 1


@pytest.mark.slow
def test_demo_runs_offline(tmp_path):
    """`radbench demo` (`make demo`) as a user runs it, traced (untraced it is no faster at its
    128 px: 235 against 214 s here)."""
    done = run_cli("demo", "--out", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert not TF_LOG_LINE.search(done.stdout + done.stderr), done.stderr[:2000]
    assert "demo" in done.stdout and "scratch" in done.stdout
    assert re.search(r"^demo took \d+ s: phantom data \d+ s, pretraining \d+ s, 12 cells \d+ s, "
                     r"report \d+ s$", done.stderr, re.MULTILINE), done.stderr[-2000:]
    assert (tmp_path / "demo" / "report.md").is_file()
    found = results(tmp_path / "demo")
    assert len(found) == 12
    pretrained = [r for r in found if r["source"].startswith("file:")]
    assert len(pretrained) == 6 and all(r["source_sha256"] for r in pretrained)
    record = json.loads((tmp_path / "demo" / "weights" / "phantom-MobileNetV3Small.json").read_text())
    assert record["heldout_accuracy"] > record["chance_accuracy"] + 0.2
    # the pretrained backbone's frozen features separate the phantom lesions; scratch ones do not
    frozen = [r["test_auc"] for r in pretrained if r["freeze"] == "freezeall"]
    assert min(frozen) > 0.8
    # the demo task has masks: every cell localized its test lesions with Grad-CAM
    assert all(r["localization"]["n"] > 0 for r in found)
    text = (tmp_path / "demo" / "report.md").read_text()
    assert "## Lesion localization (Grad-CAM)" in text and "Wilcoxon p (primary)" in text
    # issue 28: at 80 columns (a pipe's default) every table fits and keeps its header words
    from radbench.report.build import build_report
    from tests.test_terminal import split_header_words

    headers = [str(c) for section in build_report(tmp_path / "demo").sections.values()
               if section.terminal and len(section.frame) for c in section.text().columns]
    env80 = {**os.environ, "COLUMNS": "80"}
    report = subprocess.run([sys.executable, "-m", "radbench.cli", "report",
                             str(tmp_path / "demo"), "--format", "md"], capture_output=True,
                            text=True, cwd=REPO, env=env80)
    status = subprocess.run([sys.executable, "-m", "radbench.cli", "status",
                             str(tmp_path / "demo"), "--all"], capture_output=True, text=True,
                            cwd=REPO, env=env80)
    for shown in (done.stdout, report.stdout, status.stdout):
        tables = [line for line in shown.splitlines() if not line.startswith("note:")]
        assert max(len(line) for line in tables) <= 80, shown[-3000:]
        assert split_header_words(shown, headers) == [], shown[:3000]
        assert "file:" not in "\n".join(tables)  # a file source shown by its stem
    # `radbench cam` at another threshold, on a copy of the run cut to two cells (each cell
    # costs a model build and a Grad-CAM trace: 46 s for all twelve here)
    import shutil

    two = tmp_path / "two"
    shutil.copytree(tmp_path / "demo", two, ignore=shutil.ignore_patterns("*.png", "*.html"))
    for cell in sorted((two / "cells").iterdir())[2:]:
        shutil.rmtree(cell)
    again = run_cli("cam", str(two), "--threshold", "0.3")
    assert again.returncode == 0 and "2 cell(s) localized now" in again.stderr
    assert not TF_LOG_LINE.search(again.stderr), again.stderr[:2000]
    assert "2 already done" in run_cli("cam", str(two), "--threshold", "0.3").stderr


@pytest.mark.slow
def test_miniature_study_script_compares_three_sources(tmp_path, shared_data, eager):
    """scripts/miniature_study.py in a tiny setting (the study's own settings are a script run,
    figures in docs/beyond-the-paper.md): leak check, two pretrained sources per backbone, a
    kNN grid over two small backbones on a BUSI subset, a report with three sources, every
    source one `{backbone}` file source across backbones. (Fine-tuning cells of pretrained
    file sources: test_demo_runs_offline.)"""
    out = tmp_path / "mini"
    grid = tmp_path / "mini-knn.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "mini-knn", "sources": ["scratch"],
        "backbones": ["MobileNetV3Small", "MobileNetV3Large"], "settings": [{"freeze": "knn"}],
        "folds": 1, "overrides": {"image_size": 64}}))
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "miniature_study.py"), "--out",
                           str(out), "--data-root", str(shared_data), "--max-images", "60",
                           "--corpus-max-images", "100", "--epochs", "1", "--grid", str(grid)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no BUSI image in radiology/thyroid" in done.stderr
    assert sorted(p.name for p in (out / "weights").glob("*.weights.h5")) == [
        "natural-MobileNetV3Large.weights.h5", "natural-MobileNetV3Small.weights.h5",
        "radiology-MobileNetV3Large.weights.h5", "radiology-MobileNetV3Small.weights.h5"]
    for grid, backbones, scenarios in (("mini-knn", {"MobileNetV3Small", "MobileNetV3Large"},
                                        2),):
        cells = results(out / f"run-{grid}")
        assert {r["source"].split("/")[-1] for r in cells} == {
            "scratch", "radiology-{backbone}.weights.h5", "natural-{backbone}.weights.h5"}
        assert {r["backbone"] for r in cells} == backbones
        table = pd.read_csv(out / f"run-{grid}" / "report.csv")
        per_source = table[table["backbone"] == "all"]
        assert len(per_source) == 3 and (per_source["n"] == scenarios).all()


def test_reproduce_medmnist_summary_compares_with_published_and_bare():
    """The summary's arithmetic: means, SDs, the gap to the published 28-px value, and the
    radbench-vs-bare agreement rule (|difference| <= twice the larger seed SD)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reproduce_medmnist",
                                                  REPO / "scripts" / "reproduce_medmnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = [{"seed": s, "test_auc": a, "test_acc": 0.8} for s, a in enumerate((0.84, 0.86, 0.85))]
    bare = [{"seed": s, "test_auc": a, "test_acc": 0.8} for s, a in enumerate((0.80, 0.83, 0.86))]
    summary = module.summarise("breastmnist", 100, rows, bare, 0.03)
    assert summary["radbench"]["auc"] == pytest.approx(0.85)
    assert summary["radbench"]["auc_sd"] == pytest.approx(0.01)
    assert summary["radbench"]["auc_gap_to_published_28"] == pytest.approx(0.85 - 0.857)
    assert summary["radbench_minus_bare_auc"] == pytest.approx(0.02)
    assert summary["agree_within_seed_spread"]  # 0.02 <= 2 x 0.03
    assert summary["within_tolerance_of_published"]
    far = [{**r, "test_auc": r["test_auc"] - 0.2} for r in bare]
    assert not module.summarise("breastmnist", 100, rows, far, 0.03)["agree_within_seed_spread"]
    assert "| breastmnist | 100 | radbench | 3 | 0.850 ± 0.010 |" in module.table([summary])


@pytest.mark.slow
def test_reproduce_medmnist_script_runs_both_implementations(tmp_path, shared_data, eager):
    """scripts/reproduce_medmnist.py in a tiny setting (1 epoch, 1 seed, BreastMNIST): radbench's
    cell (untraced) and the bare-Keras reference (traced: ResNet50CIFAR's graph) both run, and
    the summary holds what the cell stored."""
    from sklearn.metrics import roc_auc_score

    out = tmp_path / "medmnist"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce_medmnist.py"),
                           "--out", str(out), "--data", str(shared_data / "medmnist"),
                           "--datasets", "breastmnist", "--seeds", "0", "--epochs", "1"],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    (summary,) = json.loads((out / "summary.json").read_text())
    assert summary["radbench"]["seeds"] == [0] and summary["bare_keras"]["seeds"] == [0]
    (cell,) = [d for d in (out / "radbench-breastmnist" / "cells").iterdir()]
    predictions = pd.read_csv(cell / "predictions.csv")
    assert len(predictions) == 156  # BreastMNIST's test part
    assert summary["radbench"]["auc"] == pytest.approx(
        roc_auc_score(predictions["y_true"], predictions["y_score"]))
    result = json.loads((cell / "result.json").read_text())
    assert result["backbone"] == "ResNet50CIFAR" and result["best_val_auc"] is not None
    assert "radbench − bare Keras AUC" in done.stdout
    # issue 28: the scores in MedMNIST's order and label space (malignant is their label 0)
    (seed,) = summary["radbench"]["per_seed"]
    ordered = pd.read_csv(seed["medmnist_order_file"], header=None, index_col=0).to_numpy()
    labels = np.load(shared_data / "medmnist" / "breastmnist.npz")["test_labels"].reshape(-1)
    assert ordered.shape == (156, 2)
    assert roc_auc_score(labels, ordered[:, 1]) == pytest.approx(summary["radbench"]["auc"])
    assert roc_auc_score(labels, ordered[:, 0]) == pytest.approx(1 - summary["radbench"]["auc"])
    try:
        import medmnist.evaluator  # noqa: F401  (the test extra installs it)
    except ImportError:
        assert seed["medmnist_evaluator_auc"] is None
    else:  # MedMNIST's own evaluator on the file gives radbench's AUC
        assert seed["medmnist_evaluator_auc"] == pytest.approx(summary["radbench"]["auc"])
