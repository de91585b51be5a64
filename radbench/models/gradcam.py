"""Grad-CAM at a backbone's last convolutional block, for radbench's classifier.

Every backbone here ends in that block, then global average pooling, then Dropout and one Dense
layer. For such a head the gradient of a class logit with respect to the block's feature maps is
the same at every position: W[k, c] / (h * w). Grad-CAM's channel weights are therefore the Dense
weights of the class, and the map is ReLU(sum_k W[k, c] F_k): exact, backend-independent, and
checked against automatic differentiation in the tests.
"""

from __future__ import annotations

import numpy as np

from radbench.models.backbones import get_backbone


def target_layer(base, backbone: str) -> str:
    """The paper's Grad-CAM layer (protocol.md), or the last layer with a 4-D output."""
    name = get_backbone(backbone).gradcam_layer
    if name:
        return name
    four_d = [layer.name for layer in base.layers if len(getattr(layer, "output").shape) == 4]
    return four_d[-1]


def feature_model(model, backbone: str):
    """pixels (0..255) -> (feature maps at the target layer, pooled features), no augmentation."""
    import keras

    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    inner = keras.Model(base.inputs, [base.get_layer(target_layer(base, backbone)).output,
                                      base.output])
    pixels = keras.Input(model.input_shape[1:])
    features, pooled = inner(model.get_layer("normalization")(pixels))
    return keras.Model(pixels, [features, pooled])


def gradcam(model, backbone: str, images: np.ndarray, class_index: int = 1,
            batch_size: int = 32) -> np.ndarray:
    """(N, S, S) maps in [0, 1] (each divided by its maximum) for the class's logit."""
    import keras

    features, pooled = feature_model(model, backbone).predict(
        np.asarray(images, dtype="float32"), batch_size=batch_size, verbose=0)
    if not np.allclose(features.mean(axis=(1, 2)), pooled, atol=1e-4, rtol=1e-3):
        raise ValueError(f"{backbone}: the target layer is not followed by global average "
                         f"pooling alone; the closed form of Grad-CAM does not apply")
    weights = model.get_layer("head_dense").get_weights()[0][:, class_index]
    maps = np.maximum(np.einsum("nhwk,k->nhw", features, weights), 0.0)
    size = images.shape[1]
    upsampled = keras.ops.convert_to_numpy(keras.ops.image.resize(
        maps[..., None], (size, size), interpolation="bilinear"))[..., 0]
    peak = upsampled.reshape(len(maps), -1).max(axis=1)
    return upsampled / np.where(peak > 0, peak, 1.0)[:, None, None]


def localization_scores(cam: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> dict:
    """Dice and IoU of the map binarised at `threshold` x its maximum against the lesion mask,
    and the pointing game (is the map's maximum inside the lesion)."""
    region = cam >= threshold * cam.max() if cam.max() > 0 else np.zeros_like(mask, bool)
    lesion = mask.astype(bool)
    overlap = np.logical_and(region, lesion).sum()
    dice = 2 * overlap / max(region.sum() + lesion.sum(), 1)
    iou = overlap / max(np.logical_or(region, lesion).sum(), 1)
    peak = np.unravel_index(np.argmax(cam), cam.shape)
    return {"dice": float(dice), "iou": float(iou), "pointing_hit": bool(lesion[peak])}
