"""DICOM decoding: rescale to HU, windows, MONOCHROME1, and clear errors (files made with pydicom)."""

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless

from radbench.data.dicom import BONE, BRAIN, SUBDURAL, read_dicom
from radbench.data.decode import load_rgb
from radbench.errors import DataError
from tests.data.releases import write_dicom

HU = np.array([[-1000, 0, 40], [80, 200, 1000]], dtype=np.int16)


def test_rescale_and_one_window_replicated(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", (HU + 1024).astype(np.uint16), intercept=-1024)
    image = read_dicom(path, [BRAIN])  # 40 +- 40 HU -> 0..255
    expected = np.clip(HU.astype(float) * 255 / 80, 0, 255).round().astype(np.uint8)
    assert image.shape == (2, 3, 3)
    np.testing.assert_array_equal(image[..., 0], expected)
    assert (image[..., 0] == image[..., 2]).all()


def test_slope_and_three_windows_stack_as_channels(tmp_path):
    stored = ((HU + 1024) // 2).astype(np.uint16)  # slope 2: HU = 2 * stored - 1024
    path = write_dicom(tmp_path / "b.dcm", stored, slope=2.0, intercept=-1024)
    image = read_dicom(path, [BRAIN, SUBDURAL, BONE])
    hu = stored.astype(float) * 2 - 1024
    for channel, (center, width) in enumerate([BRAIN, SUBDURAL, BONE]):
        low = center - width / 2
        expected = np.clip((hu - low) * 255 / width, 0, 255).round()
        np.testing.assert_array_equal(image[..., channel], expected.astype(np.uint8))


def test_monochrome1_is_inverted_and_no_window_uses_the_range(tmp_path):
    stored = np.array([[0, 100], [200, 300]], dtype=np.uint16)
    plain = read_dicom(write_dicom(tmp_path / "m2.dcm", stored))
    inverted = read_dicom(write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(plain[..., 0], [[0, 85], [170, 255]])
    np.testing.assert_array_equal(inverted[..., 0], 255 - plain[..., 0])


def test_the_files_own_voi_window_is_used_without_task_windows(tmp_path):
    stored = np.array([[0, 50], [100, 1000]], dtype=np.uint16)
    image = read_dicom(write_dicom(tmp_path / "w.dcm", stored, window=(50, 100)))
    assert image[0, 0, 0] == 0 and image[1, 1, 0] == 255 and 0 < image[0, 1, 0] < 255


def test_load_rgb_resizes_a_dicom(tmp_path):
    path = write_dicom(tmp_path / "r.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8))
    assert load_rgb(path, 16).shape == (16, 16, 3)


def test_dicom_without_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "empty.dcm", None)
    with pytest.raises(DataError, match=r"empty.dcm: DICOM without pixel data"):
        read_dicom(path)


def test_not_a_dicom_and_truncated(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"not a dicom at all" * 10)
    with pytest.raises(DataError, match=r"x.dcm: (not a DICOM|corrupt or truncated)"):
        read_dicom(tmp_path / "x.dcm")
    good = write_dicom(tmp_path / "t.dcm", np.ones((32, 32), np.uint16)).read_bytes()
    (tmp_path / "t.dcm").write_bytes(good[: len(good) - 900])
    with pytest.raises(DataError, match=r"t.dcm: "):
        read_dicom(tmp_path / "t.dcm")


def test_undecodable_compressed_syntax_names_it(tmp_path):
    path = write_dicom(tmp_path / "j2k.dcm", np.ones((8, 8), np.uint16), syntax=JPEG2000Lossless)
    with pytest.raises(DataError, match=r"j2k.dcm: cannot decode transfer syntax JPEG 2000"):
        read_dicom(path)


def test_compressed_syntax_with_a_codec_decodes(tmp_path):
    """RLE Lossless is decoded by pydicom itself: compressed files with a codec just work."""
    import pydicom
    from pydicom.uid import RLELossless

    pixels = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 7)
    path = write_dicom(tmp_path / "plain.dcm", pixels)
    dataset = pydicom.dcmread(path)
    dataset.compress(RLELossless)
    dataset.save_as(tmp_path / "rle.dcm")
    assert pydicom.dcmread(tmp_path / "rle.dcm").file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(read_dicom(tmp_path / "rle.dcm"), read_dicom(path))
