"""ResNet-50 with the CIFAR-style stem MedMNIST v2 trains at 28 px (Yang et al. 2023; their
`MedMNIST2D/models.py`, after kuangliu/pytorch-cifar).

`keras.applications.ResNet50` downsamples 32x before the pooled features (7x7 conv stride 2,
then a max pool), so a 28-px image would shrink to nothing. This variant keeps the 50-layer
bottleneck body ([3, 4, 6, 3] blocks of 64/128/256/512 filters, expansion 4) but starts with a
3x3 stride-1 convolution and no max pool, as MedMNIST's model does. As there, the stride of a
downsampling block sits on its 3x3 convolution, convolutions carry no bias and BatchNorm uses
PyTorch's epsilon (1e-5). Layer names follow `keras.applications.ResNet50`
(`conv2_block1_1_conv`, ..., `conv5_block3_out`), so Grad-CAM and freezing work as for it.
"""

from __future__ import annotations

STAGES = ((2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2))
EPSILON = 1.001e-5  # PyTorch's 1e-5; keras.applications' ResNets use 1.001e-5 as well


def _bottleneck(x, filters: int, stride: int, name: str):
    from keras import layers

    out_filters = 4 * filters
    if stride != 1 or x.shape[-1] != out_filters:
        shortcut = layers.Conv2D(out_filters, 1, strides=stride, use_bias=False,
                                 name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(x)
    y = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_2_conv")(y)
    y = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_2_bn")(y)
    y = layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = layers.Conv2D(out_filters, 1, use_bias=False, name=f"{name}_3_conv")(y)
    y = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_3_bn")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def ResNet50CIFAR(include_top: bool = False, weights: str | None = None,
                  input_shape: tuple[int, int, int] = (28, 28, 3), pooling: str = "avg"):
    """The notop backbone with global average pooling; `weights`: None (random) or a weights
    file of this architecture (`.weights.h5` / `.h5`, loaded by Keras)."""
    import keras
    from keras import layers

    if include_top or pooling != "avg":
        raise ValueError("ResNet50CIFAR is built without a top and with average pooling")
    if weights in ("imagenet",):
        raise ValueError("ResNet50CIFAR has no ImageNet weights")
    inputs = keras.Input(input_shape, name="input_layer")
    x = layers.Conv2D(64, 3, padding="same", use_bias=False, name="conv1_conv")(inputs)
    x = layers.BatchNormalization(epsilon=EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    for stage, filters, blocks, stride in STAGES:
        for block in range(1, blocks + 1):
            x = _bottleneck(x, filters, stride if block == 1 else 1,
                            f"conv{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, x, name="resnet50_cifar")
    if weights is not None:
        model.load_weights(weights)
    return model
