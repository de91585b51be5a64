"""The statistics of the report: scenario AUCs compared between sources, and per-cell AUC
confidence intervals.

Between two sources the scenarios are paired on everything but the source (backbone, freeze, lr,
seed, image size, ...). The primary test is the paired two-sided Wilcoxon signed-rank test on the
differences (scipy); the paired t-test is secondary; the median difference gets a bootstrap CI
(scipy.stats.bootstrap) and the matched-pairs rank-biserial correlation is the effect size. Holm
adjusts across tasks (statsmodels; the family is every Wilcoxon p the report prints). Three or more sources: Friedman, then pairwise Wilcoxon, Holm.
Per cell: a stratified bootstrap CI (cases resampled within each class) and DeLong's CI; two
cells on the same test cases: DeLong's paired test, computed the fast way (Sun and Xu 2014).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

MIN_PAIRS = 5  # below this a two-sided Wilcoxon cannot reach p < 0.05 (n = 5: p >= 0.0625)


@dataclass
class PairedComparison:
    task: str
    a: str
    b: str
    n_pairs: int
    unmatched_a: int
    unmatched_b: int
    mean_difference: float | None = None  # a - b, AUC (the paper's "gain", x 100 = points)
    median_difference: float | None = None  # a - b
    ci_low: float | None = None  # the median difference's
    ci_high: float | None = None
    mean_ci_low: float | None = None  # the mean difference's (bootstrap percentile)
    mean_ci_high: float | None = None
    wilcoxon_p: float | None = None
    holm_p: float | None = None
    t_p: float | None = None
    rank_biserial: float | None = None
    note: str = ""

    @property
    def mean_gain_points(self) -> float | None:
        """The mean difference in AUC percentage points, as the paper states gains."""
        return None if self.mean_difference is None else 100 * self.mean_difference

    def to_dict(self) -> dict:
        return {**asdict(self), "mean_gain_points": self.mean_gain_points}


def describe(values: pd.Series) -> dict:
    """n, mean, SD (n - 1), median and interquartile range."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if not len(v):
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None}
    q1, median, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(len(v)), "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
            "median": float(median), "q1": float(q1), "q3": float(q3)}


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation: (R+ - R-) / (R+ + R-), zero differences dropped."""
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    if not len(d):
        return 0.0
    ranks = stats.rankdata(np.abs(d))
    positive, negative = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((positive - negative) / (positive + negative))


def paired_frame(scenarios: pd.DataFrame, a: str, b: str, keys: list[str],
                 value: str = "auc") -> tuple[pd.DataFrame, int, int]:
    """Scenario values of sources a and b side by side, matched on `keys` (never on position);
    also the number of scenarios of each that found no partner."""
    left = scenarios[scenarios["source"] == a].set_index(keys)[value].dropna()
    right = scenarios[scenarios["source"] == b].set_index(keys)[value].dropna()
    if left.index.duplicated().any() or right.index.duplicated().any():
        raise ValueError(f"scenario keys {keys} do not identify one scenario per source")
    both = pd.concat({"a": left, "b": right}, axis=1, join="inner").dropna()
    return both, len(left.index.difference(both.index)), len(right.index.difference(both.index))


def compare_pair(task: str, a: str, b: str, both: pd.DataFrame, unmatched_a: int,
                 unmatched_b: int, seed: int = 0) -> PairedComparison:
    result = PairedComparison(task, a, b, len(both), unmatched_a, unmatched_b)
    if unmatched_a or unmatched_b:
        result.note = (f"{unmatched_a} scenario(s) of {a} and {unmatched_b} of {b} have no "
                       f"partner and are left out")
    if len(both) < MIN_PAIRS:
        result.note = (result.note + "; " if result.note else "") + (
            f"{len(both)} matched pair(s): too few for a test (need {MIN_PAIRS})")
        return result
    d = (both["a"] - both["b"]).to_numpy()
    result.mean_difference = float(np.mean(d))
    result.median_difference = float(np.median(d))
    if np.all(d == d[0]):
        result.ci_low = result.ci_high = result.mean_ci_low = result.mean_ci_high = float(d[0])
    else:
        ci = stats.bootstrap((d,), np.median, confidence_level=0.95, n_resamples=9999,
                             method="percentile", random_state=seed).confidence_interval
        result.ci_low, result.ci_high = float(ci.low), float(ci.high)
        ci = stats.bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=9999,
                             method="percentile", random_state=seed).confidence_interval
        result.mean_ci_low, result.mean_ci_high = float(ci.low), float(ci.high)
    if np.any(d != 0):
        result.wilcoxon_p = float(stats.wilcoxon(d, alternative="two-sided").pvalue)
        result.t_p = float(stats.ttest_rel(both["a"], both["b"]).pvalue) if np.std(d) > 0 else None
    else:
        result.wilcoxon_p, result.note = 1.0, "all differences are zero"
    result.rank_biserial = rank_biserial(d)
    return result


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (statsmodels), None kept where no test was run."""
    from statsmodels.stats.multitest import multipletests

    present = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if present:
        corrected = multipletests([p_values[i] for i in present], method="holm")[1]
        for i, p in zip(present, corrected):
            adjusted[i] = float(p)
    return adjusted


BASELINE_ORDER = ("imagenet", "scratch")  # the default baseline: the first of these present


def choose_baseline(sources: list[str], wanted: str | None = None) -> str:
    """The source every other one is compared with: `wanted` when given and present, else
    imagenet when present (the paper's comparison), else scratch, else the first by name."""
    if wanted is not None and wanted in sources:
        return wanted
    return next((s for s in BASELINE_ORDER if s in sources), sorted(sources)[0])


def compare_sources(scenarios: pd.DataFrame, keys: list[str], pairs: list[tuple[str, str]] | None
                    = None, seed: int = 0, value: str = "auc", baseline: str | None = None
                    ) -> tuple[list[PairedComparison], list[dict]]:
    """Paired comparisons per task for `pairs` (default: every other source minus the task's
    baseline, `choose_baseline`), Holm-adjusted over all of them; and a Friedman test per task
    with three or more sources."""
    complete = scenarios[scenarios["complete"]]
    comparisons: list[PairedComparison] = []
    friedman: list[dict] = []
    for task, rows in complete.groupby("task"):
        sources = sorted(rows["source"].unique())
        base = choose_baseline(sources, baseline)
        wanted = pairs or [(source, base) for source in sources if source != base]
        for a, b in wanted:
            if a in sources and b in sources:
                both, ua, ub = paired_frame(rows, a, b, keys, value)
                comparisons.append(compare_pair(str(task), a, b, both, ua, ub, seed))
        if len(sources) >= 3 and not pairs:
            wide = rows.pivot_table(index=keys, columns="source", values=value).dropna()
            entry = {"task": str(task), "sources": sources, "n_blocks": len(wide), "p": None}
            if len(wide) >= MIN_PAIRS:
                entry["p"] = float(stats.friedmanchisquare(*[wide[s] for s in sources]).pvalue)
            friedman.append(entry)
    # one family: every Wilcoxon p of the report (all tasks, and all pairs when there are more)
    for member, p in zip(comparisons, holm([m.wilcoxon_p for m in comparisons])):
        member.holm_p = p
    return comparisons, friedman


# -- one cell: AUC confidence intervals and DeLong's paired test ----------------------------


def _midrank(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def _structural_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
    """Fast DeLong (Sun and Xu 2014): AUCs and the placement values V10 (positives) and V01
    (negatives) of k score rows, from midranks only (O(n log n))."""
    scores = np.atleast_2d(scores)
    positive, negative = scores[:, y == 1], scores[:, y == 0]
    m, n = positive.shape[1], negative.shape[1]
    tx = np.apply_along_axis(_midrank, 1, positive)
    ty = np.apply_along_axis(_midrank, 1, negative)
    tz = np.apply_along_axis(_midrank, 1, np.concatenate([positive, negative], axis=1))
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1) / (2 * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def delong_covariance(y, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of the score rows and DeLong's covariance matrix of them."""
    y = np.asarray(y).astype(int)
    aucs, v10, v01 = _structural_components(y, np.asarray(scores, dtype=float))
    s10, s01 = np.atleast_2d(np.cov(v10)), np.atleast_2d(np.cov(v01))
    return aucs, s10 / v10.shape[1] + s01 / v01.shape[1]


def delong_ci(y, scores, level: float = 0.95) -> tuple[float, float, float]:
    """AUC and its DeLong (normal) confidence interval, clipped to [0, 1]."""
    aucs, cov = delong_covariance(y, scores)
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    z = stats.norm.ppf(0.5 + level / 2)
    return float(aucs[0]), max(0.0, float(aucs[0]) - z * se), min(1.0, float(aucs[0]) + z * se)


def delong_test(y, scores_a, scores_b) -> tuple[float, float, float]:
    """DeLong's paired test of two AUCs on the same cases: (AUC a - AUC b, z, two-sided p)."""
    aucs, cov = delong_covariance(y, np.vstack([scores_a, scores_b]))
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    difference = float(aucs[0] - aucs[1])
    if variance <= 0:
        return difference, 0.0, 1.0
    z = difference / np.sqrt(variance)
    return difference, float(z), float(2 * stats.norm.sf(abs(z)))


def bootstrap_auc_ci(y, scores, n_resamples: int = 2000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the AUC with cases resampled within each class (seeded)."""
    y, scores = np.asarray(y).astype(int), np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    positive, negative = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        pos = scores[rng.choice(positive, len(positive))]
        neg = scores[rng.choice(negative, len(negative))]
        ranks = stats.rankdata(np.concatenate([pos, neg]))  # Mann-Whitney form of the AUC
        values[i] = (ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    low, high = np.percentile(values, [50 * (1 - level), 100 - 50 * (1 - level)])
    return float(low), float(high)
