"""A downstream image planted in a corpus is found, by file, by hash and as a 28 px copy."""

import numpy as np
from PIL import Image

from radbench.config.schema import DataSpec
from radbench.data.overlap import find_overlap
from radbench.train.pretrain import part_manifest


def folders(root, images: dict[str, np.ndarray]):
    for name, pixels in images.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / name)
    return part_manifest("x", DataSpec(adapter="folders"), root, None, 0)


def test_planted_images_are_found_and_distinct_ones_are_not(tmp_path):
    from scipy.ndimage import gaussian_filter

    def picture(seed):
        noise = np.random.default_rng(seed).normal(size=(96, 96))
        return np.clip(128 + 60 * gaussian_filter(noise, 6) / 0.05, 0, 255).astype(np.uint8)

    downstream = folders(tmp_path / "d", {f"c/{k}.png": picture(k) for k in range(6)})
    corpus_images = {f"k/{k}.png": picture(100 + k) for k in range(6)}
    corpus_images["k/copy.png"] = picture(2)  # the same picture
    corpus_images["k/small.png"] = np.asarray(Image.fromarray(picture(4)).resize((28, 28)))
    corpus = folders(tmp_path / "c", corpus_images)
    found = {(o.downstream, o.corpus) for o in find_overlap(downstream, corpus)}
    assert found == {("c/2.png", "k/copy.png"), ("c/4.png", "k/small.png")}


def test_no_overlap_between_real_busi_and_the_radiology_parts(shared_data):
    busi = part_manifest("busi", DataSpec(adapter="busi"), shared_data / "busi", 120, 0)
    headct = part_manifest("h", DataSpec(adapter="head_ct"), shared_data / "head_ct_hemorrhage",
                           None, 0)
    assert find_overlap(busi, headct) == []
