"""DDTI thyroid ultrasound: the release (images + one XML per case) and the crops layout.

Release: `<case>.xml` (TI-RADS in `<tirads>`, per image a `<mark>` with `<image>N</image>` and
`<svg>`: a JSON list of regions, each with `points` [{x, y}, ...]) beside `<case>_<N>.jpg`.
Crops: `cropped/<name>.png`, `mask/<name>.gif`, `diagnosis.csv` (name, tirads[, binary]).
The raw label is the TI-RADS string; the task's class_map decides the threshold.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from PIL import Image, ImageDraw

from radbench.config.schema import DataSpec
from radbench.data.images import IMAGE_SUFFIXES, open_image
from radbench.data.records import RawRecord, group_from_name, locator
from radbench.errors import DataError


def _parse(xml: Path) -> ElementTree.Element:
    try:
        return ElementTree.parse(xml).getroot()
    except ElementTree.ParseError as exc:
        raise DataError(f"{xml}: not well-formed XML ({exc})") from None


def _outlines(xml: Path, root: ElementTree.Element) -> dict[str, list[list[tuple[float, float]]]]:
    """Image number -> list of polygons."""
    result: dict[str, list[list[tuple[float, float]]]] = {}
    for mark in root.iter("mark"):
        number = (mark.findtext("image") or "").strip()
        svg = (mark.findtext("svg") or "").strip()
        if not number or not svg:
            continue
        try:
            regions = json.loads(svg)
            polygons = [[(float(p["x"]), float(p["y"])) for p in region["points"]]
                        for region in regions]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{xml}: image {number}: outline is not a JSON list of regions "
                            f"with points {{x, y}} ({exc})") from None
        result.setdefault(number, []).extend(p for p in polygons if len(p) >= 3)
    return result


def _case_image(xml: Path, number: str) -> Path:
    for suffix in (".jpg", ".png", ".jpeg", ".bmp"):
        candidate = xml.with_name(f"{xml.stem}_{number}{suffix}")
        if candidate.is_file():
            return candidate
    raise DataError(f"{xml}: image {number} has no file {xml.stem}_{number}.jpg beside it")


def rasterise_outline(xml: Path, number: str | None) -> Image.Image:
    """The nodule outline(s) of image `number` of a case as a mode-L mask of 0/255, at the
    image's size; an outline point outside the image is an error."""
    number = number or "1"
    polygons = _outlines(xml, _parse(xml)).get(number)
    if not polygons:
        raise DataError(f"{xml}: no outline for image {number}")
    width, height = open_image(_case_image(xml, number)).size
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in polygons:
        outside = [(x, y) for x, y in polygon if not (0 <= x <= width and 0 <= y <= height)]
        if outside:
            raise DataError(f"{xml}: image {number}: outline point {outside[0]} lies outside "
                            f"the {width}x{height} image")
        draw.polygon(polygon, fill=255)
    return mask


def read_release(root: Path, spec: DataSpec) -> list[RawRecord]:
    records = []
    for xml in sorted(root.glob("*.xml")):
        tree = _parse(xml)
        tirads = (tree.findtext("tirads") or "").strip()
        outlines = _outlines(xml, tree)
        images = sorted(p for p in root.glob(f"{xml.stem}_*")
                        if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DataError(f"{xml}: no image {xml.stem}_<N>.jpg beside this case file")
        for image in images:
            number = image.stem.rsplit("_", 1)[1]
            masks = [locator(xml, number)] if number in outlines else []
            records.append(RawRecord(image, tirads, xml.stem, masks))
    return records


def read_crops(root: Path, spec: DataSpec) -> list[RawRecord]:
    table = root / "diagnosis.csv"
    if not table.is_file():
        raise DataError(f"{root}: no diagnosis.csv; expected the DDTI crops layout "
                        f"(cropped/, mask/, diagnosis.csv)")
    pattern = spec.group_pattern or r"^(\d+)_"
    records = []
    with table.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2:
                raise DataError(f"{table} row {number}: expected 'name,tirads[,binary]', got {row}")
            name, tirads = row[0].strip(), row[1].strip()
            image = root / "cropped" / f"{name}.png"
            if not image.is_file():
                records.append(RawRecord(image, tirads, None, [], f"{table.name} row {number}"))
                continue
            mask = root / "mask" / f"{name}.gif"
            records.append(RawRecord(image, tirads, group_from_name(image, pattern),
                                     [mask] if mask.is_file() else []))
    return records


def read_ddti(root: Path, spec: DataSpec) -> list[RawRecord]:
    """Either DDTI layout, recognised by its files."""
    if (root / "diagnosis.csv").is_file():
        return read_crops(root, spec)
    if any(root.glob("*.xml")):
        return read_release(root, spec)
    raise DataError(f"{root}: not a DDTI folder; expected the release (<case>.xml beside "
                    f"<case>_<N>.jpg) or the crops layout (cropped/, mask/, diagnosis.csv)")
