"""One built, traced model shared by cells that differ only in learning rate or fold gives each
cell the predictions it gets alone."""

import numpy as np

from radbench.config.schema import Training
from radbench.cellspec import Cell
from radbench.train.cell import fit_and_predict
from radbench.train.reuse import ModelReuse, model_key
from tests.train.test_cell import PAPER_AUG, tiny_problem


def test_shared_model_gives_each_cell_its_own_run_predictions():
    images, split = tiny_problem()
    training = Training(image_size=32, batch_size=8, epochs=2, augmentation=PAPER_AUG)
    first = Cell("t", "scratch", "MobileNetV3Small", "unfreezetop10", 1e-2, 0, 0, training)
    second = Cell("t", "scratch", "MobileNetV3Small", "unfreezetop10", 1e-3, 0, 1, training)
    other = Cell("t", "scratch", "MobileNetV3Small", "unfreezeall", 1e-3, 0, 0, training)
    assert model_key(first, None) == model_key(second, None) != model_key(other, None)
    reuse = ModelReuse()
    shared_first = fit_and_predict(first, images, split, None, verbose=0, reuse=reuse)
    shared_second = fit_and_predict(second, images, split, None, verbose=0, reuse=reuse)
    assert not shared_first["timings"]["reused_model"]
    assert shared_second["timings"]["reused_model"] and reuse.reused == 1
    alone = fit_and_predict(second, images, split, None, verbose=0)
    np.testing.assert_allclose(shared_second["test_scores"], alone["test_scores"], atol=1e-6)
    np.testing.assert_allclose(shared_second["history"]["loss"], alone["history"]["loss"],
                               rtol=1e-6)
    # the learning rate really changed: the first cell trained differently
    assert not np.allclose(shared_first["history"]["loss"], alone["history"]["loss"])
