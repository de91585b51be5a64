"""Batches straight from the memory-mapped uint8 cache (no decoding, no per-cell copy)."""

from __future__ import annotations

import math

import keras
import numpy as np


class CachedBatches(keras.utils.PyDataset):
    """Rows `rows` of a (N, S, S, 3) uint8 array as uint8 batches, with one-hot targets of
    `classes` columns.

    The pixels stay uint8 up to the model (a quarter of float32's bytes to copy and to move to
    the device); the model's first layers cast them.

    With `shuffle`, the order is redrawn each epoch from a generator seeded once, so a cell's
    batches are the same on every backend. One worker: Keras' multi-worker PyDataset reorders
    batches on JAX and torch.
    """

    def __init__(self, images: np.ndarray, rows: np.ndarray, labels: np.ndarray | None,
                 batch_size: int, shuffle: bool = False, seed: int = 0, classes: int = 2):
        super().__init__(workers=1, use_multiprocessing=False)
        self.images = images
        self.rows = np.asarray(rows, dtype=np.int64)
        self.targets = None if labels is None else np.eye(classes, dtype="float32")[
            np.asarray(labels)]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.rows))
        if shuffle:
            self._rng.shuffle(self._order)

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __getitem__(self, index: int):
        take = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = np.asarray(self.images[self.rows[take]])
        if self.targets is None:
            return (x,)
        return x, self.targets[take]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._rng.shuffle(self._order)
