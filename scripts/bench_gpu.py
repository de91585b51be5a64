#!/usr/bin/env python3
"""GPU throughput: radbench's training input path against a bare Keras `fit` on arrays already on
the device, same model (the paper's classifier: augmentation layers, normalisation, backbone,
head), batch size and augmentation. Issue 7's GPU check; run it under the JAX backend:

    KERAS_BACKEND=jax python scripts/bench_gpu.py --backbone ResNet50 --size 256 --batch 256

Prints images/s of both and their ratio (radbench / bare), measured in one run, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="ResNet50")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up")
    parser.add_argument("--precision", default="float32",
                        choices=["float32", "mixed_bfloat16", "mixed_float16"])
    return parser.parse_args()


def main() -> int:
    args = parse()
    import keras

    from radbench.config.schema import Augmentation, Training
    from radbench.models.build import build_classifier
    from radbench.train.batches import CachedBatches
    from radbench.train.cell import epoch_timer

    keras.mixed_precision.set_global_policy(args.precision)
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp())
    images = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(args.images, args.size, args.size, 3))
    images[:] = rng.integers(0, 255, images.shape, dtype=np.uint8)
    images.flush()
    labels = rng.integers(0, 2, args.images)
    augmentation = Augmentation(rotation_degrees=10, width_shift=0.1, height_shift=0.1,
                                shear_degrees=0.1, zoom=0.1, horizontal_flip=True)
    training = Training(image_size=args.size, batch_size=args.batch, epochs=args.epochs + 1,
                        augmentation=augmentation)

    def timed(fit_data, jit: bool = True, **kwargs) -> float:
        keras.utils.set_random_seed(0)
        model, _ = build_classifier(args.backbone, training, "unfreezeall", None, 0)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy",
                      jit_compile=jit)
        history = model.fit(fit_data, epochs=args.epochs + 1, callbacks=[epoch_timer()],
                            verbose=0, **kwargs)
        steps = -(-args.images // args.batch)
        return steps * args.batch * args.epochs / sum(history.history["epoch_seconds"][1:])

    targets = np.eye(2, dtype="float32")[labels]
    on_device_x = keras.ops.convert_to_tensor(np.asarray(images, dtype="float32"))
    on_device_y = keras.ops.convert_to_tensor(targets)
    bare = timed(on_device_x, y=on_device_y, batch_size=args.batch, shuffle=True)
    del on_device_x
    ours = timed(CachedBatches(images, np.arange(args.images), labels, args.batch, shuffle=True),
                 shuffle=False)
    # what a cell does: jit_compile as radbench.train.reuse.jit_setting chooses per backend
    from radbench.train.reuse import jit_setting

    as_cells = timed(CachedBatches(images, np.arange(args.images), labels, args.batch,
                                   shuffle=True), jit=jit_setting(None), shuffle=False)
    result = {"backend": keras.backend.backend(), "backbone": args.backbone, "size": args.size,
              "batch": args.batch, "precision": args.precision, "images": args.images,
              "timed_epochs": args.epochs, "bare_fit_images_per_s": round(bare, 1),
              "radbench_images_per_s": round(ours, 1), "ratio": round(ours / bare, 3),
              f"radbench_cell_setting_jit_{jit_setting(None)}_images_per_s": round(as_cells, 1)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
