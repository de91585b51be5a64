"""Per-epoch resume (radbench.train.resume, issue 27), in one process: a fit interrupted in the
middle of an epoch continues from the checkpoint of the last finished epoch and ends with the
uninterrupted fit's predictions, history and kept epoch. (Killed cell processes at random
moments: tests/execute/test_chaos.py.)"""

import json

import keras
import numpy as np
import pytest

from radbench.config.schema import Training
from radbench.cellspec import Cell
from radbench.train.cell import fit_and_predict
from radbench.train.resume import EpochCheckpoint, fingerprint
from tests.train.test_cell import PAPER_AUG, tiny_problem

pytestmark = pytest.mark.usefixtures("eager_in_process")


@pytest.fixture
def eager_in_process(monkeypatch):
    monkeypatch.setenv("RADBENCH_RUN_EAGERLY", "1")  # the same arithmetic, no tracing


class Interrupt(Exception):
    pass


def interrupt_at(epoch: int, batch: int):
    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, index, logs=None):
            if self._epoch == epoch and index == batch:
                raise Interrupt(f"killed in epoch {epoch + 1}, batch {batch + 1}")

        def on_epoch_begin(self, index, logs=None):
            self._epoch = index

    return Stop()


def cell_of(**training) -> Cell:
    settings = {"image_size": 32, "batch_size": 4, "epochs": 3, "augmentation": PAPER_AUG,
                "select_on": "val_auc", "lr_schedule": "step", **training}
    return Cell("t", "scratch", "MobileNetV3Small", "unfreezeall", 1e-3, 3, 0,
                Training(**settings))


@pytest.mark.slow  # 40 s; end to end with killed processes: tests/execute/test_chaos.py
def test_an_interrupted_fit_resumes_at_its_next_epoch_with_the_same_outcome(tmp_path,
                                                                             monkeypatch):
    images, split = tiny_problem()
    cell = cell_of()
    whole = fit_and_predict(cell, images, split, None, verbose=0,
                            checkpoint=tmp_path / "whole.npz")
    checkpoint = tmp_path / "resume.npz"
    import radbench.train.cell as trainer

    original = trainer.epoch_timer
    for epoch, batch in ((1, 2), (2, 3)):  # in epoch 2 (mid-epoch), in epoch 3 (last batch)
        monkeypatch.setattr(trainer, "epoch_timer",
                            lambda e=epoch, b=batch: [original(), interrupt_at(e, b)][1])
        with pytest.raises(Interrupt):
            fit_and_predict(cell, images, split, None, verbose=0, checkpoint=checkpoint)
        with np.load(checkpoint) as stored:
            assert json.loads(str(stored["meta"]))["epoch"] == epoch  # its finished epochs
        keras.backend.clear_session()
    monkeypatch.setattr(trainer, "epoch_timer", original)
    resumed = fit_and_predict(cell, images, split, None, verbose=0, checkpoint=checkpoint)
    assert resumed["resumed_from_epoch"] == 2 and whole["resumed_from_epoch"] is None
    np.testing.assert_array_equal(resumed["test_scores"], whole["test_scores"])
    np.testing.assert_array_equal(resumed["val_scores"], whole["val_scores"])
    assert resumed["best_epoch"] == whole["best_epoch"]
    columns = ["loss", "val_loss", "val_auc", "accuracy"]
    assert resumed["history"][columns].equals(whole["history"][columns])


def test_a_checkpoint_of_other_settings_is_removed_and_the_cell_starts_afresh(tmp_path):
    images, split = tiny_problem()
    checkpoint = tmp_path / "resume.npz"
    first = cell_of(epochs=1)
    fit_and_predict(first, images, split, None, verbose=0, checkpoint=checkpoint)
    assert checkpoint.is_file()  # fit_and_predict leaves it; run_cell removes it when done
    other = cell_of(epochs=1, batch_size=8)  # e.g. the batch lowered after running out of memory
    resume = EpochCheckpoint(checkpoint, fingerprint(other, 2, 16))
    from radbench.train.batches import CachedBatches

    assert resume.restore(keras.Sequential(), CachedBatches(images, [0], [0], 1)) == 0
    assert resume.note == ("resume checkpoint resume.npz written for other settings: removed, "
                           "the cell starts at epoch 1")
    assert not checkpoint.exists()
    checkpoint.write_bytes(b"PK\x03\x04 cut short")
    assert EpochCheckpoint(checkpoint, "x").restore(None, None) == 0 and not checkpoint.exists()
