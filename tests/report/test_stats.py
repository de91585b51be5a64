"""The report's statistics against independent reference values: a published Wilcoxon example,
hand-computed Holm, brute-force DeLong placement values, scipy's Friedman on the same blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from radbench.report.stats import (MIN_PAIRS, bootstrap_auc_ci, compare_sources, delong_ci,
                                   delong_covariance, delong_test, describe, holm, paired_frame,
                                   rank_biserial)

KEYS = ["backbone", "freeze", "lr", "seed"]

# Wikipedia, "Wilcoxon signed-rank test", worked example (10 pairs, one zero difference)
BEFORE = np.array([125, 115, 130, 140, 140, 115, 140, 125, 140, 135])
AFTER = np.array([110, 122, 125, 120, 140, 124, 123, 137, 135, 145])


def test_rank_biserial_on_the_published_example():
    # ranks of |d| without the zero: T+ = 27, T- = 18 (W = 9 in the article), r = 9 / 45
    assert rank_biserial(BEFORE - AFTER) == pytest.approx(0.2)
    assert stats.wilcoxon(BEFORE - AFTER).statistic == 18  # min(T+, T-), as the article counts


def test_holm_hand_computed():
    assert holm([0.01, 0.04, 0.03, 0.005, None]) == pytest.approx([0.03, 0.06, 0.06, 0.02, None])


def test_describe():
    out = describe(pd.Series([0.6, 0.7, 0.8, 0.9, np.nan]))
    assert out["n"] == 4 and out["mean"] == pytest.approx(0.75)
    assert out["sd"] == pytest.approx(np.std([0.6, 0.7, 0.8, 0.9], ddof=1))
    assert (out["q1"], out["median"], out["q3"]) == pytest.approx((0.675, 0.75, 0.825))


def scenarios(source: str, aucs, lrs=None) -> pd.DataFrame:
    n = len(aucs)
    return pd.DataFrame({"task": "t", "source": source, "backbone": [f"b{i // 2}" for i in range(n)],
                         "freeze": ["freezeall", "unfreezeall"] * (n // 2) + ["freezeall"] * (n % 2),
                         "lr": lrs or [1e-3] * n, "seed": 0, "auc": aucs, "complete": True})


def test_pairs_match_on_scenario_keys_never_on_position():
    rng = np.random.default_rng(0)
    a_auc = rng.uniform(0.6, 0.9, 12)
    a = scenarios("A", a_auc)
    b = scenarios("B", a_auc - 0.05 + rng.normal(0, 0.01, 12))
    table = pd.concat([a, b.sample(frac=1, random_state=3)])  # B rows shuffled
    both, ua, ub = paired_frame(table, "A", "B", KEYS)
    assert len(both) == 12 and ua == ub == 0
    assert (both["a"] - both["b"]).between(0.01, 0.09).all()  # each A met its own B
    # a B scenario with another lr has no partner: it is left out and counted, not paired
    b.loc[0, "lr"] = 1e-2
    both, ua, ub = paired_frame(pd.concat([a, b]), "A", "B", KEYS)
    assert len(both) == 11 and ua == 1 and ub == 1
    (result,), _ = compare_sources(pd.concat([a, b]), KEYS, baseline="B")
    assert (result.a, result.b) == ("A", "B")
    assert result.mean_difference == pytest.approx((both["a"] - both["b"]).mean())
    assert result.mean_gain_points == pytest.approx(100 * result.mean_difference)
    assert result.n_pairs == 11 and "1 scenario(s) of A and 1 of B have no partner" in result.note
    assert result.wilcoxon_p == pytest.approx(
        stats.wilcoxon(both["a"] - both["b"]).pvalue)
    assert result.t_p == pytest.approx(stats.ttest_rel(both["a"], both["b"]).pvalue)
    assert result.ci_low <= result.median_difference <= result.ci_high


def test_the_baseline_is_imagenet_then_scratch_unless_asked():
    from radbench.report.stats import choose_baseline

    assert choose_baseline(["file:w.h5", "imagenet", "radimagenet", "scratch"]) == "imagenet"
    assert choose_baseline(["file:w.h5", "radimagenet", "scratch"]) == "scratch"
    assert choose_baseline(["radimagenet", "file:w.h5"]) == "file:w.h5"
    assert choose_baseline(["imagenet", "scratch"], "scratch") == "scratch"


def test_too_few_pairs_get_no_p_value():
    table = pd.concat([scenarios("A", [0.7, 0.8, 0.9]), scenarios("B", [0.6, 0.7, 0.8])])
    (result,), _ = compare_sources(table, KEYS)
    assert result.wilcoxon_p is None and result.holm_p is None
    assert f"too few for a test (need {MIN_PAIRS})" in result.note


def test_three_sources_friedman_on_matched_blocks():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.6, 0.8, 10)
    table = pd.concat([scenarios("A", base + 0.05), scenarios("B", base),
                       scenarios("C", base + rng.normal(0, 0.02, 10))])
    comparisons, (friedman,) = compare_sources(table, KEYS)
    # every source minus the baseline (no imagenet or scratch here: the first by name)
    assert [(c.a, c.b) for c in comparisons] == [("B", "A"), ("C", "A")]
    assert friedman["n_blocks"] == 10
    assert friedman["p"] == pytest.approx(
        stats.friedmanchisquare(base + 0.05, base, table[table.source == "C"]["auc"]).pvalue)
    raw = [c.wilcoxon_p for c in comparisons]
    assert [c.holm_p for c in comparisons] == pytest.approx(holm(raw))


def brute_force_delong(y, scores):
    """DeLong's placement values from their definition, pair by pair (O(m n))."""
    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    rows = []
    for s in scores:
        pos, neg = s[y == 1], s[y == 0]
        v10 = np.array([np.mean([psi(x, z) for z in neg]) for x in pos])
        v01 = np.array([np.mean([psi(x, z) for x in pos]) for z in neg])
        rows.append((v10, v01))
    v10 = np.vstack([r[0] for r in rows])
    v01 = np.vstack([r[1] for r in rows])
    return np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]


def test_fast_delong_equals_the_definition_and_sklearn():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(30), np.zeros(45)].astype(int)
    a = np.round(y * 0.8 + rng.normal(0, 1, 75), 1)  # rounded: ties included
    b = np.round(y * 0.3 + 0.5 * a + rng.normal(0, 1, 75), 1)
    aucs, cov = delong_covariance(y, np.vstack([a, b]))
    assert aucs == pytest.approx([roc_auc_score(y, a), roc_auc_score(y, b)])
    np.testing.assert_allclose(cov, brute_force_delong(y, [a, b]), rtol=1e-10)
    difference, z, p = delong_test(y, a, b)
    expected_z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert z == pytest.approx(expected_z) and p == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert delong_test(y, a, a)[2] == 1.0


def test_delong_and_stratified_bootstrap_agree():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(60), np.zeros(90)].astype(int)
    s = y * 1.0 + rng.normal(0, 1, 150)
    auc, low, high = delong_ci(y, s)
    b_low, b_high = bootstrap_auc_ci(y, s, n_resamples=3000, seed=0)
    assert low < auc < high and b_low < auc < b_high
    assert (high - low) == pytest.approx(b_high - b_low, rel=0.15)
    assert bootstrap_auc_ci(y, s, 500, seed=4) == bootstrap_auc_ci(y, s, 500, seed=4)
