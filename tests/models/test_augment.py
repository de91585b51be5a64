"""The paper's augmentation as one layer, checked against the authors' ImageDataGenerator."""

import keras
import numpy as np
import pytest
from keras.src.legacy.preprocessing.image import ImageDataGenerator
from scipy.ndimage import binary_dilation, gaussian_filter

from radbench.config.schema import Augmentation
from radbench.models.augment import RandomAffine, affine_transforms, augmentation_layers

# the legacy generator calls scipy.ndimage.interpolation, deprecated in scipy
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PAPER_AUG = Augmentation(rotation_degrees=10, width_shift=0.1, height_shift=0.1,
                         shear_degrees=0.1, zoom=0.1, horizontal_flip=True)


def smooth_image(size=40):
    """A smooth image, so that the two bilinear resamplers agree to float precision."""
    rng = np.random.default_rng(0)
    return gaussian_filter(rng.uniform(0, 255, (size, size, 3)), (3, 3, 0)).astype("float32")


# The generator's own parameters; its `tx` (drawn from height_shift_range) moves columns and
# `zx` scales x in the Keras 3 legacy code, so they map to our shift_x / zoom_x.
GENERATOR_PARAMS = [
    {"theta": 8.0}, {"tx": 4.0}, {"ty": -3.0}, {"shear": 20.0}, {"zx": 1.1, "zy": 0.9},
    {"flip_horizontal": True}, {"flip_vertical": True},
    {"theta": -7.0, "tx": 3.0, "ty": -2.5, "shear": 5.0, "zx": 0.95, "zy": 1.08,
     "flip_horizontal": True, "flip_vertical": True},
]


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect"])
@pytest.mark.parametrize("params", GENERATOR_PARAMS, ids=lambda p: ",".join(p))
def test_transform_matches_the_authors_image_data_generator(params, fill_mode):
    image = smooth_image()
    theirs = ImageDataGenerator(fill_mode=fill_mode).apply_transform(image, dict(params))

    def value(key, default=0.0):
        return np.array([float(params.get(key, default))], dtype="float32")

    transform = affine_transforms(value("theta"), value("tx"), value("ty"), value("shear"),
                                  value("zx", 1.0), value("zy", 1.0), value("flip_horizontal"),
                                  value("flip_vertical"), 40, 40)
    ours = np.asarray(keras.ops.image.affine_transform(image[None], transform,
                                                       fill_mode=fill_mode))[0]
    compared = np.ones(image.shape[:2], dtype=bool)
    if fill_mode == "constant":
        # scipy does not interpolate between the last pixel and the fill value; Keras does: the
        # one-pixel ring next to the filled area differs, by design of each library
        filled = (theirs == 0).all(axis=-1)
        compared = ~binary_dilation(filled, iterations=1)
    np.testing.assert_allclose(ours[compared], theirs[compared], atol=1e-3)


def test_one_layer_identity_at_inference_and_seeded_in_training():
    layers = augmentation_layers(PAPER_AUG, seed=3)
    assert [type(layer).__name__ for layer in layers] == ["RandomAffine"]
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    model = keras.Sequential([keras.Input((32, 32, 3)), *layers])
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), x)
    changed = np.asarray(model(x, training=True))
    assert changed.shape == x.shape and not np.allclose(changed, x)
    assert not np.allclose(changed[0], changed[1] if np.allclose(x[0], x[1]) else x[0])
    again = keras.Sequential([keras.Input((32, 32, 3)), *augmentation_layers(PAPER_AUG, seed=3)])
    np.testing.assert_array_equal(np.asarray(again(x, training=True)), changed)
    other = keras.Sequential([keras.Input((32, 32, 3)), *augmentation_layers(PAPER_AUG, seed=4)])
    assert not np.allclose(np.asarray(other(x, training=True)), changed)


def test_flip_only_draws_each_image_flipped_or_not():
    layer = RandomAffine(horizontal_flip=True, seed=0)
    x = np.random.default_rng(1).uniform(0, 255, (64, 8, 8, 3)).astype("float32")
    out = np.asarray(layer(x, training=True))
    flipped = [np.allclose(o, xi[:, ::-1], atol=1e-4) for o, xi in zip(out, x)]
    kept = [np.allclose(o, xi, atol=1e-4) for o, xi in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))  # each image exactly one of the two
    assert 16 <= sum(flipped) <= 48  # a fair coin over 64 images


def test_drawn_shifts_stay_in_range():
    """A shift-only layer moves a single bright pixel by at most the range, on both axes."""
    layer = RandomAffine(width_shift=0.25, height_shift=0.125, fill_mode="constant", seed=0)
    x = np.zeros((200, 33, 33, 1), dtype="float32")
    x[:, 16, 16, 0] = 1.0
    out = np.asarray(layer(x, training=True))[..., 0]
    rows = (out * np.arange(33)[None, :, None]).sum(axis=(1, 2)) / out.sum(axis=(1, 2))
    cols = (out * np.arange(33)[None, None, :]).sum(axis=(1, 2)) / out.sum(axis=(1, 2))
    assert np.abs(cols - 16).max() <= 0.25 * 33 + 1e-3
    assert np.abs(rows - 16).max() <= 0.125 * 33 + 1e-3
    assert np.abs(cols - 16).max() > 0.125 * 33  # the wider range is on the columns


def test_no_augmentation_layers_when_off():
    assert augmentation_layers(Augmentation(), seed=0) == []


def test_layer_config_round_trips():
    layer = augmentation_layers(PAPER_AUG, seed=5)[0]
    copy = RandomAffine.from_config(layer.get_config())
    assert copy.get_config() == layer.get_config()
