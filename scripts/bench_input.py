#!/usr/bin/env python3
"""P1 and P2: radbench's input path against a bare `model.fit` and against the authors' pipeline.

P1  One training epoch through radbench (uint8 batches from the memory-mapped cache, augmentation
    and normalisation inside the model, as a cell trains) against a bare `model.fit` on the same
    uint8 array already in memory, same model, batch size and augmentation.
    Target: radbench / bare >= 0.95 (images/s over the epoch's batches; median of interleaved
    repeats).
P2  Delivering 256 px training batches without a model, on one core: the authors'
    `ImageDataGenerator.flow_from_dataframe` (reads and decodes the files every epoch, the
    paper's augmentation and preprocessing, all on the host) against radbench's host path
    (uint8 batches from the memory-mapped cache; augmentation and normalisation are layers of
    the model and run with it, on the accelerator). Target: radbench / authors >= 10. Also
    printed: radbench's batches augmented and normalised on this CPU core (compiled), i.e.
    what the host would do with no accelerator. And a whole training epoch with a model on CPU
    is never slower than theirs (ratio >= 0.95, i.e. equal within noise).

    python scripts/bench_input.py --data ../shared/data/busi/Dataset_BUSI_with_GT

Prints one JSON object; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib import REPO, fit_epoch_seconds, interleaved, median, verdict

PAPER_AUG = dict(rotation_degrees=10, width_shift=0.1, height_shift=0.1, shear_degrees=0.1,
                 zoom=0.1, horizontal_flip=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "busi" /
                                              "Dataset_BUSI_with_GT"),
                        help="BUSI folder (any class-folder set of image files works)")
    parser.add_argument("--p1-backbone", default="MobileNetV3Small")
    parser.add_argument("--p1-size", type=int, default=64)
    parser.add_argument("--p1-freeze", default="unfreezeall")
    parser.add_argument("--p1-images", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--p2-size", type=int, default=256)
    parser.add_argument("--p2-images", type=int, default=400)
    parser.add_argument("--epoch-backbone", default="MobileNetV3Small",
                        help="model for P2's whole-epoch comparison")
    parser.add_argument("--epoch-images", type=int, default=192)
    return parser.parse_args()


def _model(backbone, size, freeze, batch, augment=True):
    import keras

    from radbench.config.schema import Augmentation, Training
    from radbench.models.build import build_classifier

    training = Training(image_size=size, batch_size=batch, epochs=1,
                        augmentation=Augmentation(**PAPER_AUG) if augment else Augmentation())
    keras.utils.set_random_seed(0)
    model, _ = build_classifier(backbone, training, freeze, None, 0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy",
                  jit_compile=keras.backend.backend() == "jax")
    return model


def p1(args) -> dict:
    """radbench epoch vs bare fit on the same preloaded uint8 array."""
    from radbench.train.batches import CachedBatches

    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp())
    shape = (args.p1_images, args.p1_size, args.p1_size, 3)
    cache = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                      shape=shape)
    cache[:] = rng.integers(0, 255, shape, dtype=np.uint8)
    cache.flush()
    cache = np.load(folder / "images.npy", mmap_mode="r")
    in_memory = np.array(cache)  # the bare side's array, loaded up front
    labels = rng.integers(0, 2, args.p1_images)
    targets = np.eye(2, dtype="float32")[labels]
    ours_model = _model(args.p1_backbone, args.p1_size, args.p1_freeze, args.batch)
    bare_model = _model(args.p1_backbone, args.p1_size, args.p1_freeze, args.batch)
    rows = np.arange(args.p1_images)

    def ours() -> float:
        batches = CachedBatches(cache, rows, labels, args.batch, shuffle=True, seed=0)
        return args.p1_images / fit_epoch_seconds(ours_model, batches, shuffle=False)

    def bare() -> float:
        return args.p1_images / fit_epoch_seconds(bare_model, in_memory, targets,
                                                  batch_size=args.batch, shuffle=True)

    ours(), bare()  # warm-up: tracing
    radbench, plain = interleaved(ours, bare, args.repeats)
    return {"p1": {"model": f"{args.p1_backbone} {args.p1_size} px {args.p1_freeze}",
                   "batch": args.batch, "images": args.p1_images,
                   "radbench_images_per_s": median(radbench),
                   "bare_fit_images_per_s": median(plain),
                   "ratio": median(radbench) / median(plain)}}


def _files(data: Path, limit: int):
    import pandas as pd

    paths = sorted(p for p in data.rglob("*.png") if "_mask" not in p.name)
    two_classes = sorted({p.parent.name for p in paths})[:2]  # BUSI: benign, malignant
    paths = [p for p in paths if p.parent.name in two_classes]
    rng = np.random.default_rng(0)
    chosen = [paths[i] for i in sorted(rng.choice(len(paths), min(limit, len(paths)),
                                                  replace=False))]
    return pd.DataFrame({"path": [str(p) for p in chosen],
                         "label": [p.parent.name for p in chosen]})


def _authors_generator(frame, size, batch, shuffle=True):
    from keras.applications.imagenet_utils import preprocess_input
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    def paper(x):  # the scripts: caffe preprocess_input, then x 1/255
        return preprocess_input(x) / 255.0

    generator = ImageDataGenerator(rotation_range=10, width_shift_range=0.1,
                                   height_shift_range=0.1, shear_range=0.1, zoom_range=0.1,
                                   horizontal_flip=True, fill_mode="nearest",
                                   preprocessing_function=paper)
    return generator.flow_from_dataframe(frame, x_col="path", y_col="label",
                                         target_size=(size, size), batch_size=batch,
                                         class_mode="categorical", shuffle=shuffle, seed=0)


def _our_batches(frame, size, batch):
    """radbench's path: the cache (decoded once, not timed) and the model's front layers."""
    import keras

    from radbench.config.schema import Augmentation
    from radbench.data.decode import load_rgb
    from radbench.models.preprocess import ChannelNormalization
    from radbench.models.augment import augmentation_layers
    from radbench.train.batches import CachedBatches

    folder = Path(tempfile.mkdtemp())
    cache = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                      shape=(len(frame), size, size, 3))
    for index, path in enumerate(frame["path"]):
        cache[index] = load_rgb(path, size, "nearest")
    cache.flush()
    cache = np.load(folder / "images.npy", mmap_mode="r")
    labels = (frame["label"] == frame["label"].iloc[0]).astype(int).to_numpy()
    front = keras.Sequential([keras.Input((size, size, 3)),
                              *augmentation_layers(Augmentation(**PAPER_AUG), 0),
                              ChannelNormalization("paper")])
    batches = CachedBatches(cache, np.arange(len(frame)), labels, batch, shuffle=True)
    return batches, front, cache, labels


def _compiled(front):
    """The augmentation and normalisation layers as one compiled function where the backend
    allows (TensorFlow: a traced graph, as inside a training step), else eager."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: front(x, training=True))
    return lambda x: front(x, training=True)


def p2(args) -> dict:
    """Batches without a model on one core; then one whole epoch with a model."""
    frame = _files(Path(args.data), args.p2_images)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for all sides
    theirs_iterator = _authors_generator(frame, args.p2_size, args.batch)
    batches, front, _, _ = _our_batches(frame, args.p2_size, args.batch)
    augment = _compiled(front)

    def theirs() -> float:
        start = time.perf_counter()
        for index in range(len(theirs_iterator)):
            theirs_iterator[index]
        theirs_iterator.on_epoch_end()
        return len(frame) / (time.perf_counter() - start)

    def host() -> float:  # what the host delivers: augmentation runs with the model
        start = time.perf_counter()
        for index in range(len(batches)):
            batches[index]
        batches.on_epoch_end()
        return len(frame) / (time.perf_counter() - start)

    def augmented_here() -> float:  # the same, augmented and normalised on this CPU core
        start = time.perf_counter()
        for index in range(len(batches)):
            x, _ = batches[index]
            np.asarray(augment(x))
        batches.on_epoch_end()
        return len(frame) / (time.perf_counter() - start)

    augmented_here(), host()  # warm-up, tracing
    radbench, authors = interleaved(host, theirs, args.repeats)
    on_cpu = [augmented_here() for _ in range(args.repeats)]
    figures = {"images": len(frame), "size": args.p2_size, "batch": args.batch, "cores": 1,
               "authors_images_per_s": median(authors),
               "radbench_host_images_per_s": median(radbench),
               "ratio": median(radbench) / median(authors),
               "radbench_augmented_on_this_cpu_core_images_per_s": median(on_cpu),
               "ratio_augmented_on_cpu": median(on_cpu) / median(authors)}
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    figures["epoch"] = _whole_epoch(args)
    return {"p2": figures}


def _whole_epoch(args) -> dict:
    """One training epoch with a model: the authors' generator into fit vs radbench's."""
    frame = _files(Path(args.data), args.epoch_images)
    size = args.p2_size
    batches, _, _, _ = _our_batches(frame, size, args.batch)
    ours_model = _model(args.epoch_backbone, size, "unfreezeall", args.batch)
    # the generator augments for the authors' model, which therefore has no augmentation layers
    theirs_model = _model(args.epoch_backbone, size, "unfreezeall", args.batch, augment=False)
    theirs_iterator = _authors_generator(frame, size, args.batch)
    def ours() -> float:
        return len(frame) / fit_epoch_seconds(ours_model, batches, shuffle=False)

    def theirs() -> float:
        return len(frame) / fit_epoch_seconds(theirs_model, theirs_iterator)

    ours(), theirs()
    radbench, authors = interleaved(ours, theirs, max(1, args.repeats - 1))
    return {"model": f"{args.epoch_backbone} {size} px unfreezeall", "images": len(frame),
            "radbench_images_per_s": median(radbench), "authors_images_per_s": median(authors),
            "ratio": median(radbench) / median(authors)}


def main() -> int:
    args = parse()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    figures = {**p1(args), **p2(args)}
    import keras

    figures["backend"] = keras.backend.backend()
    checks = {"P1 radbench/bare >= 0.95": figures["p1"]["ratio"] >= 0.95,
              "P2 radbench/authors >= 10 (host batches, one core)": figures["p2"]["ratio"] >= 10,
              "P2 whole epoch never slower (>= 0.95)": figures["p2"]["epoch"]["ratio"] >= 0.95}
    return verdict("input pipeline (P1, P2)", figures, checks)


if __name__ == "__main__":
    sys.exit(main())
