"""The report's numbers, recomputed independently from stored results."""

import json

import numpy as np
import pandas as pd
import pytest

from radbench.config.schema import Training
from radbench.errors import DataError
from radbench.cellspec import Cell
from radbench.report.build import build_report
from radbench.report.formats import to_json, to_markdown, write_report
from radbench.store import CellResult, RunDir
from tests.conftest import cell_record


def store(out, source, backbone, lr, fold, auc, done=True, distinct=5, **training):
    cell = Cell("breast", source, backbone, "freezeall", lr, 0, fold,
                Training(image_size=64, epochs=2, **training))
    suffix = "".join(f"-{k}={v}" for k, v in sorted(training.items()))
    directory = RunDir(out).cell(
        f"{source}-{backbone}-{lr}-{fold}{suffix}".replace(":", "_").replace("/", "_"))
    directory.write_config(cell_record(cell, directory.id))
    if done:
        directory.write_result(CellResult(cell_id=directory.id, fold=fold, test_auc=auc,
                                          best_epoch=1, distinct_test_scores=distinct,
                                          **cell.scenario()))


def test_mean_sd_over_scenarios_of_fold_means(tmp_path):
    rng = np.random.default_rng(0)
    aucs = {}
    for source in ("scratch", "file:/w/pre.h5"):
        for backbone in ("ResNet50", "DenseNet121"):
            for lr in (1e-2, 1e-3):
                folds = rng.uniform(0.5, 1.0, 3)
                for fold, auc in enumerate(folds):
                    store(tmp_path, source, backbone, lr, fold, auc)
                aucs[(source, backbone, lr)] = folds.mean()
    report = build_report(tmp_path)
    table = report["table"]
    for source, label in (("scratch", "scratch"), ("file:/w/pre.h5", "file:pre.h5")):
        row = table[(table["source"] == label) & (table["backbone"] == "all")].iloc[0]
        values = [v for k, v in aucs.items() if k[0] == source]
        assert row["n"] == 4
        assert row["mean"] == pytest.approx(np.mean(values))
        assert row["sd"] == pytest.approx(np.std(values, ddof=1))
        per = table[(table["source"] == label) & (table["backbone"] == "ResNet50")].iloc[0]
        assert per["mean"] == pytest.approx(np.mean([v for k, v in aucs.items()
                                                     if k[0] == source and k[1] == "ResNet50"]))
    assert report.cells == {"total": 24, "done": 24, "failed": 0, "pending": 0,
                            "degenerate": 0, "without_metric": 0}
    text = to_markdown(report)
    assert "| breast | scratch | all | 4 |" in text
    data = json.loads(to_json(report))
    assert {r["source"] for r in data["table"]} == {"scratch", "file:pre.h5"}
    paths = write_report(tmp_path, report)
    assert pd.read_csv(tmp_path / "report.csv").shape[0] == len(table)
    assert {p.name for p in paths} >= {"report.md", "report.csv", "report.json", "report.html"}


def test_incomplete_scenarios_are_left_out_and_counted(tmp_path):
    store(tmp_path, "scratch", "ResNet50", 1e-2, 0, 0.8)
    store(tmp_path, "scratch", "ResNet50", 1e-2, 1, None, done=False)
    store(tmp_path, "scratch", "ResNet50", 1e-3, 0, 0.6)
    store(tmp_path, "scratch", "ResNet50", 1e-3, 1, 0.7)
    report = build_report(tmp_path)
    row = report["table"].iloc[0]
    assert row["n"] == 1 and row["mean"] == pytest.approx(0.65)
    assert report.scenarios == {"total": 2, "complete": 1, "incomplete": 1}
    assert report.cells["pending"] == 1


def test_empty_run_directory(tmp_path):
    with pytest.raises(DataError, match="no cells found"):
        build_report(tmp_path)


def test_report_pairs_sources_by_scenario_and_writes_cell_intervals(tmp_path):
    from scipy import stats

    from radbench.atomic import atomic_write_csv

    rng = np.random.default_rng(5)
    diffs = []
    for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
        for lr in (1e-2, 1e-3):
            base = rng.uniform(0.6, 0.8)
            diffs.append(0.05 + rng.normal(0, 0.02))
            store(tmp_path, "scratch", backbone, lr, 0, base)
            store(tmp_path, "file:/w/pre.h5", backbone, lr, 0, base + diffs[-1])
    one = next(iter(sorted((tmp_path / "cells").iterdir())))
    y = np.r_[np.ones(10), np.zeros(15)].astype(int)
    atomic_write_csv(one / "predictions.csv", pd.DataFrame(
        {"case_id": range(25), "fold": 0, "y_true": y, "y_score": y * 0.5 + rng.random(25)}))
    report = build_report(tmp_path)
    (row,) = report["comparisons"].itertuples()
    assert (row.a, row.b, row.n_pairs) == ("file:pre.h5", "scratch", 6)
    assert row.wilcoxon_p == pytest.approx(stats.wilcoxon(diffs).pvalue)
    assert row.median_difference == pytest.approx(np.median(diffs))
    assert len(report["cell_intervals"]) == 1
    cell = report["cell_intervals"].iloc[0]
    assert cell["delong_low"] < cell["auc"] < cell["delong_high"]
    text = to_markdown(report)
    assert "Wilcoxon p (primary)" in text and "| breast | file:pre.h5 − scratch | 6 |" in text
    only = build_report(tmp_path, compare="scratch,file:pre.h5")
    assert only["comparisons"].iloc[0]["a"] == "scratch"
    from radbench.errors import ConfigError

    with pytest.raises(ConfigError, match="no source 'imagenet' in this run"):
        build_report(tmp_path, compare="scratch,imagenet")


def test_cells_of_two_sources_on_the_same_cases_get_delongs_paired_test(tmp_path):
    from radbench.report.stats import delong_test
    from radbench.atomic import atomic_write_csv

    rng = np.random.default_rng(6)
    y = np.r_[np.ones(12), np.zeros(18)].astype(int)
    scores = {}
    for source in ("scratch", "file:/w/pre.h5"):
        store(tmp_path, source, "ResNet50", 1e-3, 0, 0.7)
        scores[source] = y * (0.8 if source == "scratch" else 1.5) + rng.random(30)
        name = f"{source}-ResNet50-0.001-0".replace(":", "_").replace("/", "_")
        atomic_write_csv(tmp_path / "cells" / name / "predictions.csv", pd.DataFrame(
            {"case_id": [f"c{i}" for i in range(30)], "fold": 0, "y_true": y,
             "y_score": scores[source]}))
    report = build_report(tmp_path)
    (pair,) = report["paired_cells"].itertuples()
    expected = delong_test(y, scores[pair.a.replace("file:pre.h5", "file:/w/pre.h5")],
                           scores[pair.b.replace("file:pre.h5", "file:/w/pre.h5")])
    assert (pair.auc_difference, pair.delong_z, pair.delong_p) == pytest.approx(expected)
    assert pair.n_test == 30


def test_paper_style_table_breakdowns_and_latex(tmp_path):
    from radbench.report.formats import to_latex

    rng = np.random.default_rng(7)
    for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
        for lr in (1e-2, 1e-3):
            base = rng.uniform(0.6, 0.8)
            store(tmp_path, "scratch", backbone, lr, 0, base)
            store(tmp_path, "file:/w/pre_1.h5", backbone, lr, 0, base + 0.02)
    report = build_report(tmp_path)
    (row,) = report["paper_table"].to_dict("records")
    scratch = report["table"].query("source == 'scratch' and backbone == 'all'").iloc[0]
    assert row["scratch"] == f"{scratch['mean']:.3f} ± {scratch['sd']:.3f}"
    assert (row["scenarios"], row["left out"]) == (6, 0)
    # six positive differences of 0.02: exact p = 2/64
    assert row["file:pre_1.h5 − scratch"] == "+2.0 [+2.0, +2.0] points, p 0.031 (n 6)"
    assert set(report["by_lr"]["lr"]) == {1e-2, 1e-3}
    assert (report["by_freeze"]["n"] == 6).all()
    latex = to_latex(report)
    assert "\\begin{tabular}{lccccc}" in latex and "file:pre\\_1.h5" in latex
    assert "$\\pm$" in latex and latex.strip().endswith("\\end{tabular}")


def test_every_format_renders_every_section(tmp_path):
    """A report holding every section (three sources, predictions, localization): each section
    is in report.json, has its csv, and its title and rows are in the md, html and tex."""
    from html import escape

    from radbench.report.formats import FORMATS, to_latex
    from radbench.store import RunDir
    from radbench.atomic import atomic_write_csv, atomic_write_json

    rng = np.random.default_rng(8)
    y = np.r_[np.ones(9), np.zeros(15)].astype(int)  # 9 positives: underpowered (a warning)
    for source, strength in (("scratch", 0.3), ("file:/w/a.h5", 1.0), ("file:/w/b.h5", 1.5)):
        for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
            for lr in (1e-2, 1e-3):
                scores = y * strength + rng.random(24)
                from sklearn.metrics import roc_auc_score

                store(tmp_path, source, backbone, lr, 0, roc_auc_score(y, scores))
                cell = RunDir(tmp_path).cell(
                    f"{source}-{backbone}-{lr}-0".replace(":", "_").replace("/", "_"))
                atomic_write_csv(cell.predictions_file, pd.DataFrame(
                    {"case_id": [f"c{i}" for i in range(24)], "fold": 0, "y_true": y,
                     "y_score": scores}))
                dice = float(rng.uniform(0.2, 0.8))
                atomic_write_json(cell.localization_summary_file, {
                    "threshold": 0.5, "n": 10, "dice": dice, "iou": dice / 2, "pointing": 0.5})
                # the same scenario with BatchNorm calibration: a setting with two values
                store(tmp_path, source, backbone, lr, 0, roc_auc_score(y, scores) * 0.9,
                      batchnorm_calibration=True)
    report = build_report(tmp_path)
    # the sections of other kinds of run have their own tests (label efficiency:
    # tests/test_label_efficiency.py; per-class AUC: tests/test_multiclass.py;
    # external validation: tests/test_own_data.py)
    other_runs = {"per_class_auc", "label_efficiency", "data_equivalence", "external",
                  "external_comparisons"}
    assert [k for k, s in report.sections.items() if not len(s.frame)] == sorted(
        other_runs, key=list(report.sections).index)
    written = write_report(tmp_path, report, FORMATS)
    data = json.loads((tmp_path / "report.json").read_text())
    markdown = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    latex = to_latex(report)
    assert (tmp_path / "report.tex").read_text() == latex
    for key, section in report.sections.items():
        assert len(data[key]) == len(section.frame), key
        if key in other_runs:  # empty here: no CSV, the formats say why
            assert tmp_path / section.csv not in written and "*Empty: " in markdown, key
            continue
        assert tmp_path / section.csv in written, key
        assert len(pd.read_csv(tmp_path / section.csv)) == len(section.frame), key
        first = str(section.text().iloc[0, 1])
        assert f"## {section.title}" in markdown and first in markdown, key
        assert escape(section.title) in page and escape(first, quote=False) in page, key
        assert f"% {section.title}" in latex, key
    assert latex.count("\\begin{tabular}") == len(report.sections) - len(other_runs)


def test_sources_are_compared_with_imagenet_in_points_over_matched_scenarios(tmp_path):
    """The paper's reading: radimagenet − imagenet, the mean gain in AUC points; a scenario that
    did not complete for one source leaves the paper-style table for both (counted)."""
    rng = np.random.default_rng(9)
    diffs, imagenet = {}, {}
    for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
        for lr in (1e-2, 1e-3):
            base = rng.uniform(0.6, 0.8)
            diffs[(backbone, lr)] = rng.normal(0.04, 0.02)
            imagenet[(backbone, lr)] = base
            store(tmp_path, "imagenet", backbone, lr, 0, base)
            store(tmp_path, "scratch", backbone, lr, 0, base - 0.1)
            store(tmp_path, "radimagenet", backbone, lr, 0, base + diffs[(backbone, lr)],
                  done=(backbone, lr) != ("InceptionV3", 1e-3))  # one scenario never finished
    matched = [k for k in diffs if k != ("InceptionV3", 1e-3)]
    report = build_report(tmp_path)
    rows = report["comparisons"].set_index(["a", "b"])
    assert sorted(rows.index) == [("radimagenet", "imagenet"), ("scratch", "imagenet")]
    rad = rows.loc[("radimagenet", "imagenet")]
    assert rad["n_pairs"] == 5 and rad["unmatched_b"] == 1
    assert rad["mean_gain_points"] == pytest.approx(100 * np.mean([diffs[k] for k in matched]))
    assert rows.loc[("scratch", "imagenet"), "mean_gain_points"] == pytest.approx(-10.0)
    (paper,) = report["paper_table"].to_dict("records")
    assert list(paper)[:6] == ["task", "scenarios", "left out", "imagenet", "radimagenet",
                               "scratch"]
    assert (paper["scenarios"], paper["left out"]) == (5, 2)  # imagenet's and scratch's
    values = [imagenet[k] for k in matched]
    assert paper["imagenet"] == f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
    from scipy import stats

    differences = np.array([diffs[k] for k in matched])
    ci = stats.bootstrap((differences,), np.mean, n_resamples=9999, method="percentile",
                         random_state=0).confidence_interval
    assert (rad["mean_ci_low"], rad["mean_ci_high"]) == pytest.approx((ci.low, ci.high))
    assert paper["radimagenet − imagenet"].startswith(
        f"{rad['mean_gain_points']:+.1f} [{100 * ci.low:+.1f}, {100 * ci.high:+.1f}] points")
    headline = report["table"].query("source == 'imagenet' and backbone == 'all'").iloc[0]
    assert headline["n"] == 6  # the headline keeps each source's own complete scenarios
    text = to_markdown(report)
    assert "| breast | radimagenet − imagenet | 5 | " \
        f"{rad['mean_gain_points']:+.1f} [" in text
    on_scratch = build_report(tmp_path, baseline="scratch")["comparisons"]
    assert set(zip(on_scratch["a"], on_scratch["b"])) == {("imagenet", "scratch"),
                                                          ("radimagenet", "scratch")}
    from radbench.errors import ConfigError

    with pytest.raises(ConfigError, match="--baseline 'imgnet': no such source in this run"):
        build_report(tmp_path, baseline="imgnet")


def test_a_degenerate_cell_is_flagged_in_every_format(tmp_path):
    """One cell gave every test case the same score: the headline row of its source says so in
    md, html, tex, json and csv, the comparison counts the pair that holds it, a note says why."""
    from html import escape

    from radbench.report.formats import FORMATS, to_latex

    rng = np.random.default_rng(10)
    for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
        for lr in (1e-2, 1e-3):
            base = rng.uniform(0.6, 0.8)
            flat = (backbone, lr) == ("ResNet50", 1e-2)
            store(tmp_path, "scratch", backbone, lr, 0, 0.5 if flat else base,
                  distinct=1 if flat else 5)
            store(tmp_path, "file:/w/pre.h5", backbone, lr, 0, base + 0.05)
    report = build_report(tmp_path)
    assert report.cells["degenerate"] == 1
    headline = report["table"].set_index(["source", "backbone"])
    assert headline.loc[("scratch", "all"), "degenerate_cells"] == 1
    assert headline.loc[("scratch", "DenseNet121"), "degenerate_cells"] == 0
    assert headline.loc[("file:pre.h5", "all"), "degenerate_cells"] == 0
    (comparison,) = report["comparisons"].itertuples()
    assert comparison.degenerate_pairs == 1
    write_report(tmp_path, report, FORMATS)
    flag = "1 of 6 DEGENERATE"
    row = "| breast | scratch | all | 6 |"
    markdown = (tmp_path / "report.md").read_text()
    assert any(line.startswith(row) and line.endswith(f"| {flag} |")
               for line in markdown.splitlines())
    assert "1 pair(s) hold a DEGENERATE cell" in markdown
    assert "1 finished cell(s) are DEGENERATE" in markdown
    assert flag in (tmp_path / "report.html").read_text()
    assert escape("1 pair(s) hold a DEGENERATE cell") in (tmp_path / "report.html").read_text()
    assert flag in to_latex(report)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["cells"]["degenerate"] == 1
    assert [r["degenerate_cells"] for r in data["table"] if r["backbone"] == "all"] == [0, 1]
    csv = pd.read_csv(tmp_path / "report.csv")
    assert csv.loc[(csv["source"] == "scratch") & (csv["backbone"] == "all"),
                   "degenerate_cells"].item() == 1
    assert pd.read_csv(tmp_path / "report_comparisons.csv")["degenerate_pairs"].item() == 1


def test_whether_a_gain_depends_on_a_setting_is_tested_on_paired_gains(tmp_path):
    """bn-check's question: radimagenet − imagenet per scenario with and without BatchNorm
    calibration, paired on every other key; the change recomputed with scipy."""
    from scipy import stats

    rng = np.random.default_rng(11)
    change = {}
    for backbone in ("ResNet50", "DenseNet121", "InceptionV3"):
        for lr in (1e-2, 1e-3):
            base = rng.uniform(0.6, 0.8)
            paper_gain, calibrated_gain = rng.normal(0.05, 0.01), rng.normal(0.01, 0.01)
            change[(backbone, lr)] = calibrated_gain - paper_gain
            for calibrated, gain in ((False, paper_gain), (True, calibrated_gain)):
                store(tmp_path, "imagenet", backbone, lr, 0, base,
                      batchnorm_calibration=calibrated)
                store(tmp_path, "radimagenet", backbone, lr, 0, base + gain,
                      batchnorm_calibration=calibrated)
    report = build_report(tmp_path)
    (row,) = report["gain_by_setting"].to_dict("records")
    assert (row["a"], row["b"], row["setting"]) == ("radimagenet", "imagenet",
                                                    "batchnorm_calibration")
    assert (row["first"], row["second"], row["n_pairs"]) == ("False", "True", 6)
    values = list(change.values())
    assert row["change_points"] == pytest.approx(100 * np.mean(values))
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(values).pvalue)
    assert row["gain_second_points"] - row["gain_first_points"] == pytest.approx(
        row["change_points"])
    assert "Does the gain depend on a training setting?" in to_markdown(report)
