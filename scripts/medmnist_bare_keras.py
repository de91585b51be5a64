"""MedMNIST v2's ResNet-50 (28) protocol in bare Keras: no radbench code, one file.

The independent reference beside `reproduce_medmnist.py`: the same model (ResNet-50 with the
CIFAR-style stem of MedMNIST's `models.py`), data (the release's train/val/test parts) and
hyperparameters (Adam 1e-3, batch 128, lr x 0.1 at 50 % and 75 % of the epochs, weights of the
epoch with the best val AUC, inputs scaled to [-1, 1], no augmentation, BatchNorm momentum 0.9),
written again here from the protocol, not from radbench's trainer. Grey images are repeated to
three channels, as radbench feeds every backbone.

    python scripts/medmnist_bare_keras.py --npz ../shared/data/medmnist/breastmnist.npz \\
        --seed 0 --epochs 100 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


def resnet50_cifar(classes: int = 2, momentum: float = 0.9):
    """Bottleneck ResNet-50 ([3, 4, 6, 3]) with a 3x3 stride-1 stem and no max pool; the stride
    of a downsampling block on its 3x3 convolution; global average pooling, one linear layer."""
    import keras
    from keras import layers

    def bn(x):
        return layers.BatchNormalization(momentum=momentum, epsilon=1e-5)(x)

    def block(x, planes, stride):
        shortcut = x
        if stride != 1 or x.shape[-1] != 4 * planes:
            shortcut = bn(layers.Conv2D(4 * planes, 1, strides=stride, use_bias=False)(x))
        y = layers.ReLU()(bn(layers.Conv2D(planes, 1, use_bias=False)(x)))
        y = layers.ReLU()(bn(layers.Conv2D(planes, 3, strides=stride, padding="same",
                                           use_bias=False)(y)))
        y = bn(layers.Conv2D(4 * planes, 1, use_bias=False)(y))
        return layers.ReLU()(layers.add([y, shortcut]))

    inputs = keras.Input((28, 28, 3))
    x = layers.ReLU()(bn(layers.Conv2D(64, 3, padding="same", use_bias=False)(inputs)))
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for index in range(blocks):
            x = block(x, planes, stride if index == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def load(npz: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images scaled to [-1, 1] (ToTensor, then Normalize(0.5, 0.5)), grey to 3 channels."""
    with np.load(npz) as data:
        images = data[f"{part}_images"].astype("float32") / 255.0
        labels = data[f"{part}_labels"].reshape(-1).astype("int64")
    images = (images - 0.5) / 0.5
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    import keras
    from sklearn.metrics import roc_auc_score

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        load(args.npz, part) for part in ("train", "val", "test"))
    model = resnet50_cifar()
    model.compile(optimizer=keras.optimizers.Adam(args.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    milestones = (math.ceil(0.5 * args.epochs), math.ceil(0.75 * args.epochs))
    best = {"auc": -1.0, "epoch": 0, "weights": None}
    history = []
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.optimizer.learning_rate = args.lr * 0.1 ** sum(epoch >= m for m in milestones)
        fit = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=1, shuffle=True,
                        verbose=0)
        val_auc = roc_auc_score(y_val, model.predict(x_val, batch_size=256, verbose=0)[:, 1])
        history.append({"epoch": epoch + 1, "loss": fit.history["loss"][0],
                        "val_auc": float(val_auc)})
        if val_auc > best["auc"]:
            best = {"auc": float(val_auc), "epoch": epoch + 1, "weights": model.get_weights()}
    model.set_weights(best["weights"])
    scores = model.predict(x_test, batch_size=256, verbose=0)[:, 1]
    result = {
        "npz": str(args.npz), "seed": args.seed, "epochs": args.epochs,
        "test_auc": float(roc_auc_score(y_test, scores)),
        "test_acc": float(np.mean((scores > 0.5).astype(int) == y_test)),
        "best_epoch": best["epoch"], "best_val_auc": best["auc"],
        "seconds": time.perf_counter() - started, "backend": keras.backend.backend(),
        "keras": keras.__version__, "history": history,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"{args.npz.stem} seed {args.seed}: test AUC {result['test_auc']:.3f} "
          f"ACC {result['test_acc']:.3f} (best epoch {best['epoch']})")


if __name__ == "__main__":
    main()
