"""Results a reader could misread, flagged where the numbers are shown: underpowered test parts
(too few positives or negatives for their AUC to mean much), AUCs below chance whose CI
excludes 0.5 (flipped labels, a wrong positive class), and source gains the test sets cannot
rank (the CI of the gain reaches across zero: it is wider than the gain)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from radbench.data.plan import MIN_TEST_PER_CLASS

UNDERPOWERED = "underpowered"
BELOW_CHANCE = "below chance: check the labels and the positive class"
CANNOT_RANK = "these test sets cannot rank the sources"
COLUMNS = ["task", "source", "where", "flag", "detail"]


def cell_power(intervals: pd.DataFrame, predictions: dict[str, pd.DataFrame],
               minimum: int = MIN_TEST_PER_CLASS) -> pd.DataFrame:
    """The per-cell interval table with each cell's test positives and negatives, its DeLong
    CI width, and whether it is underpowered (fewer than `minimum` of either class)."""
    if intervals.empty:
        return intervals
    counts = {cell: (int((frame["y_true"] == 1).sum()), int((frame["y_true"] == 0).sum()))
              for cell, frame in predictions.items()}
    out = intervals.copy()
    out["n_pos"] = [counts.get(c, (0, 0))[0] for c in out["cell_id"]]
    out["n_neg"] = [counts.get(c, (0, 0))[1] for c in out["cell_id"]]
    out["ci_width"] = out["delong_high"] - out["delong_low"]
    out["underpowered"] = (out[["n_pos", "n_neg"]].min(axis=1) < minimum)
    out["below_chance"] = out["delong_high"] < 0.5
    return out


def _label(row) -> str:
    return f"{row.backbone} {row.freeze} lr={row.lr:g} seed={row.seed} fold={row.fold}"


def _mean_ci(values: pd.Series) -> tuple[float, float] | None:
    """The 95 % t-interval of a mean over scenarios (None for fewer than two)."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return None
    if np.std(v) == 0:
        return float(v[0]), float(v[0])
    low, high = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    return float(low), float(high)


def site_flags(external: pd.DataFrame, minimum: int = MIN_TEST_PER_CLASS) -> list[dict]:
    """Underpowered external sites and external AUCs below chance (radbench.report.external)."""
    rows = []
    for row in (external.itertuples() if len(external) else []):
        where = f"site {row.site}"
        if min(row.external_pos, row.external_neg) < minimum:
            rows.append({"task": row.task, "source": row.source, "where": where,
                         "flag": UNDERPOWERED, "detail": (
                             f"{row.external_pos} positive(s) and {row.external_neg} "
                             f"negative(s) at the site (fewer than {minimum} of a class): AUC "
                             f"{row.external_auc:.3f}, 95 % CI [{row.external_low:.3f}, "
                             f"{row.external_high:.3f}]")})
        if row.external_high < 0.5:
            rows.append({"task": row.task, "source": row.source, "where": where,
                         "flag": BELOW_CHANCE, "detail": (
                             f"external AUC {row.external_auc:.3f}, 95 % CI "
                             f"[{row.external_low:.3f}, {row.external_high:.3f}] excludes 0.5: "
                             f"do the site's labels and positive class mean the same?")})
    return rows


def flags(power: pd.DataFrame, scenarios: pd.DataFrame, comparisons: pd.DataFrame,
          metric: str = "auc", minimum: int = MIN_TEST_PER_CLASS,
          external: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per flag: task, source, where (a cell, the headline, a comparison, an external
    site), the flag and its detail. Below chance and underpowered are AUC flags: they need the
    per-cell CIs."""
    rows = site_flags(external if external is not None else pd.DataFrame(), minimum)
    if len(power):
        for row in power[power["underpowered"]].itertuples():
            rows.append({"task": row.task, "source": row.source, "where": _label(row),
                         "flag": UNDERPOWERED, "detail": (
                             f"{row.n_pos} positive(s) and {row.n_neg} negative(s) in the test "
                             f"part (fewer than {minimum} of a class): AUC {row.auc:.3f}, 95 % "
                             f"CI [{row.delong_low:.3f}, {row.delong_high:.3f}], "
                             f"{row.ci_width:.2f} wide")})
        for row in power[power["below_chance"]].itertuples():
            rows.append({"task": row.task, "source": row.source, "where": _label(row),
                         "flag": BELOW_CHANCE, "detail": (
                             f"AUC {row.auc:.3f}, 95 % CI [{row.delong_low:.3f}, "
                             f"{row.delong_high:.3f}] excludes 0.5")})
    if metric == "auc":
        complete = scenarios[scenarios["complete"]]
        for (task, source), group in complete.groupby(["task", "source"]):
            mean = float(group["auc"].mean())
            ci = _mean_ci(group["auc"])
            if ci is None and len(power) and len(group) == 1:
                one = power[(power["task"] == task) & (power["source"] == source)]
                ci = (float(one["delong_low"].iloc[0]), float(one["delong_high"].iloc[0])) \
                    if len(one) == 1 else None
            if ci is not None and mean < 0.5 and ci[1] < 0.5:
                rows.append({"task": task, "source": source, "where": "headline",
                             "flag": BELOW_CHANCE, "detail": (
                                 f"mean AUC {mean:.3f} over {len(group)} scenario(s), 95 % CI "
                                 f"[{ci[0]:.3f}, {ci[1]:.3f}] excludes 0.5")})
    for row in (comparisons.itertuples() if len(comparisons) else []):
        gain, low, high = (getattr(row, k, None) for k in
                           ("mean_gain_points", "mean_ci_low", "mean_ci_high"))
        if any(v is None or pd.isna(v) for v in (gain, low, high)):
            continue
        if low <= 0 <= high:
            rows.append({"task": row.task, "source": row.a, "where": f"{row.a} − {row.b}",
                         "flag": CANNOT_RANK, "detail": (
                             f"gain {gain:+.1f} points, 95 % CI [{100 * low:+.1f}, "
                             f"{100 * high:+.1f}]: the interval is wider than the gain and "
                             f"holds zero")})
    return pd.DataFrame(rows, columns=COLUMNS)


def headline_notes(found: pd.DataFrame) -> list[str]:
    """The report's first notes: a sentence per kind of flag, where the numbers are read."""
    notes = []
    for (task, source), rows in found[found["flag"] == BELOW_CHANCE].groupby(["task", "source"]):
        notes.append(f"BELOW CHANCE: {task} {source}: {len(rows)} result(s) below 0.5 with a CI "
                     f"that excludes it; check the labels and the positive class")
    thin = found[found["flag"] == UNDERPOWERED]
    if len(thin):
        notes.append(f"UNDERPOWERED: {len(thin)} cell(s) were tested on fewer than "
                     f"{MIN_TEST_PER_CLASS} positives or negatives; their AUCs carry CIs tens "
                     f"of points wide (section 'Read these numbers with care')")
    for row in found[found["flag"] == CANNOT_RANK].itertuples():
        notes.append(f"{row.task}: {row.where}: {CANNOT_RANK} ({row.detail})")
    return notes
