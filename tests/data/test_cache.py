"""The uint8 cache: decoded once, memory-mapped, keyed by data and size, never half-written."""

import numpy as np
import pytest
from PIL import Image

from radbench.config.schema import TaskConfig
from radbench.data.cache import build_cache
from radbench.data.manifest import build_manifest
from radbench.errors import DataError

TASK = TaskConfig.model_validate({
    "name": "t", "data": {"adapter": "folders"},
    "classes": {"names": ["a", "b"], "positive": "b"}, "split": {"scheme": "kfold"}})


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (20, 30), np.uint8)).save(
                tmp_path / "data" / cls / f"{i}.png")
    return tmp_path / "data"


def test_built_once_and_reused(dataset, tmp_path):
    manifest = build_manifest(TASK, dataset)
    calls = []
    first = build_cache(manifest, 16, "nearest", tmp_path / "cache", on_image=lambda: calls.append(1))
    assert len(calls) == 6
    images = first.images()
    assert isinstance(images, np.memmap) and images.shape == (6, 16, 16, 3)
    assert images.dtype == np.uint8
    assert first.case_ids == manifest.frame["case_id"].tolist()
    again = build_cache(manifest, 16, "nearest", tmp_path / "cache", on_image=lambda: calls.append(1))
    assert again.directory == first.directory and len(calls) == 6  # nothing decoded again
    other = build_cache(manifest, 24, "nearest", tmp_path / "cache")
    assert other.directory != first.directory and other.images().shape[1] == 24


def test_key_changes_when_a_file_changes(dataset, tmp_path):
    first = build_cache(build_manifest(TASK, dataset), 16, "nearest", tmp_path / "cache")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(dataset / "a" / "0.png")
    second = build_cache(build_manifest(TASK, dataset), 16, "nearest", tmp_path / "cache")
    assert second.directory != first.directory


def test_corrupt_image_leaves_no_cache(dataset, tmp_path):
    (dataset / "b" / "2.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="2.png"):
        build_cache(build_manifest(TASK, dataset), 16, "nearest", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("harm, said", [
    (lambda entry: (entry / "images.npy").write_bytes(
        (entry / "images.npy").read_bytes()[:-100]), "bytes, 4736 were written"),
    (lambda entry: (entry / "complete.json").unlink(), "no completion record"),
    (lambda entry: (entry / "index.csv").write_text("case_id\nx\n"), "index.csv has 1 rows"),
    (lambda entry: _flip_a_pixel(entry / "images.npy"), "sampled SHA-256 differs"),
])
def test_a_damaged_entry_is_found_and_built_again(dataset, tmp_path, capsys, harm, said):
    """A truncated, shortened or overwritten entry is never reused (it once failed every cell
    with 'mmap length is greater than file size', forever): named, set aside, rebuilt."""
    manifest = build_manifest(TASK, dataset)
    first = build_cache(manifest, 16, "nearest", tmp_path / "cache")
    pixels = np.array(first.images())
    assert first.damage() is None
    harm(first.directory)
    assert said in first.damage()
    calls = []
    again = build_cache(manifest, 16, "nearest", tmp_path / "cache",
                        on_image=lambda: calls.append(1))
    assert again.directory == first.directory and len(calls) == 6  # decoded again
    assert again.damage() is None and np.array_equal(again.images(), pixels)
    assert f"image cache {first.directory} is damaged" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [first.directory.name]


def _flip_a_pixel(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last block is always in the sampled hash
    path.write_bytes(bytes(data))
