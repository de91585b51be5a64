"""`radbench data check`: everything wrong or surprising about a dataset, listed at once.

Errors (unreadable or missing files, masks that do not fit, a patient group in two classes)
make `radbench run` refuse the dataset unless `--skip-bad` leaves those images out; warnings
(converted pixel formats, blank images, near-duplicates, counts unlike the study's) are reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from radbench.config.schema import TaskConfig
from radbench.data.inspect import BLANK_STD, ImageInfo, duplicate_groups, inspect_all
from radbench.data.manifest import Manifest, build_manifest

ERROR, WARNING = "error", "warning"


@dataclass
class Finding:
    level: str
    kind: str
    message: str
    case_ids: list[str] = field(default_factory=list)  # the images --skip-bad leaves out


@dataclass
class CheckReport:
    task: str
    root: str
    adapter: str
    images: int
    raw_counts: dict[str, int]
    merged: dict[str, str]
    counts: dict[str, int]
    paper_counts: dict[str, int] | None
    part_counts: dict[str, dict[str, int]]
    groups_per_class: dict[str, int]
    dropped: dict[str, int]
    notes: list[str]
    duplicates: list[list[str]]
    sizes: dict[str, dict[str, float]]
    modes: dict[str, int]
    channel_mean: list[float]
    with_masks: int
    duplicate_distance: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def bad_case_ids(self) -> set[str]:
        return {case for finding in self.errors for case in finding.case_ids}

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": not self.errors}


def _group_findings(manifest: Manifest) -> list[Finding]:
    if manifest.per_image_groups:
        return []
    frame = manifest.frame
    findings = []
    for group, rows in frame.groupby("group"):
        if rows["label"].nunique() > 1:
            labels = ", ".join(f"{k} {v}" for k, v in rows["label"].value_counts().items())
            findings.append(Finding(
                ERROR, "group_in_two_classes",
                f"group {group!r} holds images of both classes ({labels}; e.g. "
                f"{rows['path'].iloc[0]}); expected one class per patient",
                rows["case_id"].tolist()))
    return findings


def strict_distance(max_distance: int) -> int:
    """The hash distance a cross-class pair must be within to be reported: half the grouping
    threshold, because a set linked through same-class neighbours (adjacent CT slices) can
    join images of two classes that are not alike."""
    return max_distance // 2


def _cross_class_distance(members: list[str], label: dict, hashes: dict) -> int | None:
    """The smallest perceptual-hash distance between two members of different classes."""
    best = None
    for i, a in enumerate(members):
        for b in members[i + 1:]:
            if label[a] != label[b] and a in hashes and b in hashes:
                distance = bin(hashes[a] ^ hashes[b]).count("1")
                best = distance if best is None else min(best, distance)
    return best


def _conflict(members: list[str], label: dict, policy: str, how: str) -> Finding:
    """One finding for a set of images of one picture in two classes: both files named."""
    a = members[0]
    b = next(m for m in members if label[m] != label[a])
    more = f"; {len(members)} images in the set" if len(members) > 2 else ""
    level = ERROR if policy == "error" else WARNING
    return Finding(level, "label_conflict",
                   f"the same picture in two classes ({how}): {a} (class {label[a]}) and {b} "
                   f"(class {label[b]}){more}", members if policy != "keep" else [])


def _duplicate_findings(manifest: Manifest, duplicates: list[list[str]],
                        infos: list[ImageInfo], max_distance: int,
                        policy: str = "error") -> list[Finding]:
    """Label conflicts: each set of identical pictures (decoded pixels) of two classes, and each
    near-duplicate set whose images of different classes are alike directly (within
    `strict_distance`), not only through a chain of neighbours. An error under the `policy`
    error (data.label_conflicts), else a warning (drop: the images are left out)."""
    label = dict(zip(manifest.frame["case_id"], manifest.frame["label"]))
    hashes = {i.case_id: int(i.phash, 16) for i in infos if i.phash}
    findings, exact = [], set()
    by_digest: dict[str, list[str]] = {}
    for info in infos:
        if info.digest and info.case_id in label and info.std >= BLANK_STD:
            by_digest.setdefault(info.digest, []).append(info.case_id)
    for members in by_digest.values():
        if len({label[m] for m in members}) > 1:
            findings.append(_conflict(sorted(members), label, policy, "identical pixels"))
            exact.update(members)
    for members in duplicates:
        classes = sorted({label[m] for m in members})
        if len(classes) < 2 or exact.intersection(members):
            continue
        distance = _cross_class_distance(members, label, hashes)
        if distance is not None and distance <= strict_distance(max_distance):
            findings.append(_conflict(members, label, policy,
                                      f"perceptual hashes {distance} bit(s) apart"))
    return findings


def _straddling_duplicates(manifest: Manifest, duplicates: list[list[str]],
                           near_duplicates: str) -> list[Finding]:
    """A warning when near-duplicate sets join two or more groups and the task only reports
    them: such a set can fall in train and test of one fold. Ends with the fix as YAML."""
    if near_duplicates != "report":
        return []
    group = dict(zip(manifest.frame["case_id"], manifest.frame["group"]))
    spread = [m for m in duplicates if len({group.get(c) for c in m}) > 1]
    if not spread:
        return []
    return [Finding(WARNING, "duplicate_across_groups",
                    f"{len(spread)} near-duplicate set(s) join two or more patient groups (e.g. "
                    f"{' = '.join(spread[0][:3])}), so a set can fall in train and test of one "
                    f"fold; to keep each set in one part, set in the task YAML under data: "
                    f"`near_duplicates: group`")]


def evaluate(task: TaskConfig, manifest: Manifest, infos: list[ImageInfo]) -> CheckReport:
    """The report for a manifest whose images were inspected."""
    frame = manifest.frame
    findings = [Finding(ERROR, "missing_file", f"{where}: image {path} not found; expected the "
                        f"file to exist (or data.missing_files: drop)") for path, where in
                manifest.missing]
    findings += [Finding(ERROR, "unreadable", f"{name}: the file name is not valid UTF-8; rename "
                         f"the file (or leave it out with --skip-bad)", [name])
                 for name in manifest.unencodable]
    for info in infos:
        if info.error:
            findings.append(Finding(ERROR, "unreadable", info.error, [info.case_id]))
        findings.extend(Finding(WARNING, "converted", w) for w in info.warnings)
        if info.error is None and info.std < BLANK_STD:
            findings.append(Finding(WARNING, "blank", f"{info.case_id}: blank image (gray values "
                                    f"vary by {info.std:.2f})"))
    findings.extend(_group_findings(manifest))
    if task.split.scheme in ("kfold", "holdout"):
        from radbench.data.splits import thin_classes

        findings.extend(Finding(ERROR, "thin_class", sentence)
                        for sentence in thin_classes(frame))
    readable = [i for i in infos if i.error is None]
    duplicates = duplicate_groups(infos, task.data.duplicate_distance)
    findings.extend(_duplicate_findings(manifest, duplicates, infos,
                                        task.data.duplicate_distance, task.data.label_conflicts))
    findings.extend(_straddling_duplicates(manifest, duplicates, task.data.near_duplicates))
    if task.split.scheme in ("kfold", "holdout") and (frame["release_part"] == "test").any():
        findings.append(Finding(WARNING, "given_test_pooled", (
            f"the data has its own test part ({int((frame['release_part'] == 'test').sum())} "
            f"images: a folder named test, or test rows in the CSV split column), but split "
            f"scheme {task.split.scheme} pools it with the rest and splits again")))
    counts = manifest.counts()
    if task.paper_counts and task.paper_counts != counts:
        findings.append(Finding(WARNING, "counts", "class counts differ from the study's: " + ", ".join(
            f"{k} {counts.get(k, 0)} (study {v})" for k, v in task.paper_counts.items())))
    widths = np.array([i.width for i in readable] or [0])
    heights = np.array([i.height for i in readable] or [0])
    parts = {}
    if frame["release_part"].notna().any():
        parts = {str(p): {str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()}
                 for p, rows in frame.groupby("release_part")}
    return CheckReport(
        task=task.name, root=str(manifest.root), adapter=task.data.adapter, images=len(frame),
        raw_counts={str(k): int(v) for k, v in Counter(frame["raw_label"]).most_common()},
        merged={raw: target for raw, target in task.data.class_map.items()
                if raw != target and raw in set(frame["raw_label"])},
        counts=counts, paper_counts=task.paper_counts, part_counts=parts,
        groups_per_class={str(k): int(v) for k, v in frame.groupby("label")["group"].nunique().items()},
        dropped=manifest.dropped, notes=manifest.notes, duplicates=duplicates,
        sizes={name: {"min": int(a.min()), "median": float(np.median(a)), "max": int(a.max())}
               for name, a in (("width", widths), ("height", heights))},
        modes=dict(Counter(i.mode for i in readable)),
        channel_mean=[round(float(v), 2) for v in np.mean([i.mean for i in readable] or [[0, 0, 0]], axis=0)],
        with_masks=int((frame["masks"] != "").sum()),
        duplicate_distance=task.data.duplicate_distance, findings=findings,
    )


def check_dataset(task: TaskConfig, root: Path) -> CheckReport:
    """Read and inspect every image of the dataset; writes nothing."""
    manifest = build_manifest(task, Path(root), strict=False)
    windows = [(w.center, w.width) for w in task.data.windows]
    report = evaluate(task, manifest, inspect_all(manifest, windows))
    report.findings.extend(_split_findings(task, manifest))
    return report


def _split_findings(task: TaskConfig, manifest: Manifest) -> list[Finding]:
    """A warning naming the folds whose test part is underpowered, when radbench can make the
    task's split here (not the published one, which needs the authors' files)."""
    from radbench.data.plan import fold_counts, underpowered_sentence
    from radbench.data.splits import make_splits
    from radbench.errors import DataError

    if task.split.scheme == "published":
        return []
    try:
        splits = make_splits(manifest, task.split, task.classes.names)
    except (DataError, ValueError):
        return []  # `radbench run` names what is wrong with the split
    sentence = underpowered_sentence(fold_counts(splits, manifest.frame, task.classes.names))
    return [Finding(WARNING, "underpowered", sentence)] if sentence else []


# what to do about each kind of finding (the last lines of `radbench data check`)
FIXES = {
    "missing_file": "missing files: restore them, or set data.missing_files: drop in the task "
                    "YAML to leave those rows out",
    "unreadable": "unreadable images: replace them, or run with --skip-bad to leave them out "
                  "(counted in the run's data/skipped.csv)",
    "group_in_two_classes": "a patient in both classes: check data.group_pattern (group 1 must "
                            "be the patient id) or the labels; --skip-bad leaves those images out",
    "label_conflict": "the same picture in two classes: look at the named files and fix the "
                      "label; or `--skip-bad` (or `label_conflicts: drop` under data: in the "
                      "task YAML) leaves them out; `label_conflicts: keep` keeps them (as the "
                      "paper did)",
    "duplicate_across_groups": "near-duplicates across groups: `near_duplicates: group` under "
                               "data: in the task YAML keeps every set in one part of each fold",
    "given_test_pooled": "a test set of its own: `split: {scheme: given}` in the task YAML keeps "
                         "it as the test set (val drawn from train; folds: k for k-fold inside "
                         "train + val)",
    "underpowered": "underpowered test parts: more images of the thin class, fewer folds, or a "
                    "holdout split give each test part more cases",
    "blank": "blank images: remove them from the dataset folder if they carry no image",
    "converted": "converted images: nothing to do unless the conversion is wrong for your data",
    "counts": "counts differ from the study's: expected when your release differs; data.class_map "
              "merges or renames classes",
}
PER_IMAGE_GROUPS_FIX = ("no patient ids: every image is its own group; if file names carry a "
                        "patient id, set data.group_pattern (regex, group 1 = patient) or rerun "
                        "`radbench task init` with --group-pattern")


def report_lines(report: CheckReport, limit: int = 20) -> list[str]:
    """The report as plain lines for a terminal."""
    lines = [f"task {report.task}: {report.images} images in {report.root} "
             f"(adapter {report.adapter})"]
    lines.append("raw labels: " + ", ".join(f"{k} {v}" for k, v in report.raw_counts.items()))
    merged = [f"{raw} -> {target} ({report.raw_counts.get(raw, 0)} images)"
              for raw, target in report.merged.items() if raw not in report.counts]
    if merged:
        lines.append("class map: " + ", ".join(merged))
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    if report.paper_counts:
        counts += "  (study: " + ", ".join(f"{k} {v}" for k, v in report.paper_counts.items()) + ")"
    lines.append("classes: " + counts)
    for part, part_counts in report.part_counts.items():
        lines.append(f"  {part}: " + ", ".join(f"{k} {v}" for k, v in part_counts.items()))
    lines.append("groups per class: " + ", ".join(f"{k} {v}" for k, v in report.groups_per_class.items()))
    lines.extend(f"note: {n}" for n in report.notes)
    size = report.sizes
    lines.append(f"image size: width {size['width']['min']}-{size['width']['max']} (median "
                 f"{size['width']['median']:g}), height {size['height']['min']}-"
                 f"{size['height']['max']} (median {size['height']['median']:g}); modes "
                 + ", ".join(f"{k} {v}" for k, v in report.modes.items())
                 + f"; channel means {report.channel_mean}; {report.with_masks} with masks")
    in_sets = sum(len(d) for d in report.duplicates)
    lines.append(f"near-duplicates: {in_sets} images in {len(report.duplicates)} sets "
                 f"({100 * in_sets / max(report.images, 1):.1f} % of the images; perceptual hashes "
                 f"at most {report.duplicate_distance} bits apart; images under 64 px not compared)")
    for members in report.duplicates[:limit]:
        lines.append("  " + " = ".join(members[:8]) + (" = ..." if len(members) > 8 else ""))
    if len(report.duplicates) > limit:
        lines.append(f"  ... and {len(report.duplicates) - limit} more sets (--json lists all)")
    for level, findings in ((ERROR, report.errors), (WARNING, report.warnings)):
        for finding in findings[:limit]:
            lines.append(f"{level}: {finding.message}")
        if len(findings) > limit:
            lines.append(f"... and {len(findings) - limit} more {level}s (--json lists all)")
    lines.append(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    kinds = dict.fromkeys(f.kind for f in report.findings)
    fixes = [FIXES[kind] for kind in kinds if kind in FIXES]
    if any("own group" in note for note in report.notes):
        fixes.append(PER_IMAGE_GROUPS_FIX)
    lines.extend(f"fix: {fix}" for fix in fixes)
    return lines
