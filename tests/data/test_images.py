"""Decoding: every common mode becomes 3-channel uint8; broken files are one-line DataErrors."""

import numpy as np
import pytest
from PIL import Image

from radbench.data.decode import load_mask, load_rgb
from radbench.errors import DataError


def save(tmp_path, image: Image.Image, name: str):
    path = tmp_path / name
    image.save(path)
    return path


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P"])
def test_modes_become_rgb(tmp_path, mode):
    gray = Image.fromarray(np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8))
    image = gray.convert(mode)
    array = load_rgb(save(tmp_path, image, f"x_{mode}.png"), 32)
    assert array.shape == (32, 32, 3) and array.dtype == np.uint8
    if mode == "L":  # grayscale replicated to 3 channels
        assert (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()


def test_jpeg(tmp_path):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    assert load_rgb(save(tmp_path, image, "x.jpg"), 32).shape == (32, 32, 3)


def test_16_bit_is_stretched_to_8_bit(tmp_path):
    values = np.linspace(1000, 4000, 32 * 32).reshape(32, 32).astype(np.uint16)
    path = save(tmp_path, Image.fromarray(values), "x16.png")
    array = load_rgb(path, 32)
    assert array.min() == 0 and array.max() == 255


def test_resize_without_keeping_aspect_nearest(tmp_path):
    values = np.zeros((10, 40), dtype=np.uint8)
    values[:, 20:] = 200
    array = load_rgb(save(tmp_path, Image.fromarray(values), "w.png"), 8)
    assert array.shape == (8, 8, 3)
    assert set(np.unique(array)) <= {0, 200}  # nearest: no new grey levels


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty.png: empty file"):
        load_rgb(path, 32)


def test_truncated_file(tmp_path):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    path = save(tmp_path, image, "t.png")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="t.png"):
        load_rgb(path, 32)


def test_not_an_image(tmp_path):
    path = tmp_path / "n.png"
    path.write_text("hello")
    with pytest.raises(DataError, match="n.png: not a readable image"):
        load_rgb(path, 32)


def test_masks_are_united(tmp_path):
    a = np.zeros((16, 16), np.uint8)
    a[:4] = 255
    b = np.zeros((16, 16), np.uint8)
    b[-4:] = 255
    paths = [save(tmp_path, Image.fromarray(a), "a.png"), save(tmp_path, Image.fromarray(b), "b.png")]
    mask = load_mask(paths, 16)
    assert mask.sum() == 2 * 4 * 16


def test_an_animated_image_is_read_at_its_first_frame_with_a_warning(tmp_path):
    from radbench.data.decode import decode

    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (10, 200, 90)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    decoded = decode(tmp_path / "a.gif")
    assert np.asarray(decoded.image)[0, 0, 0] == 10
    assert any("3 frames (animated or multi-page); only the first is used" in w
               for w in decoded.warnings)
    frames[0].save(tmp_path / "still.gif")
    assert not any("frames" in w for w in decode(tmp_path / "still.gif").warnings)
