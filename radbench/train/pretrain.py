"""`radbench pretrain`: train a backbone supervised on a labelled corpus, the way RadImageNet was
made, and write a notop weights file that works as a `file:` source.

Same building blocks as a cell (image cache, augmentation, normalisation, backbone, head); one
checkpoint per epoch, so a killed run resumes at the next epoch; after training the BatchNorm
statistics are re-estimated on training images (at Keras' momentum of 0.99-0.999 the moving
averages still mostly hold their initial values after a short run, which makes a frozen backbone
give the same output for every image).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from radbench.config.corpus import CorpusConfig
from radbench.config.schema import Training
from radbench.data.adapters import get_adapter
from radbench.data.cache import build_cache
from radbench.data.manifest import COLUMNS, Manifest
from radbench.data.records import relative_locator
from radbench.errors import ConfigError, DataError
from radbench.ids import file_sha256, stable_hash
from radbench.models.backbones import get_backbone
from radbench.provenance import run_eagerly
from radbench.atomic import atomic_write_json
from radbench.train.batchnorm import calibrate_batchnorm

WEIGHTS_SUFFIX = ".weights.h5"


@dataclass
class Corpus:
    """The corpus as arrays: one memory-mapped cache per part, and an index over all images."""

    classes: list[str]
    arrays: list[np.ndarray]
    index: pd.DataFrame  # part, row, y, case_id, group, split (train/val)
    manifests: list[Manifest]

    @property
    def corpus_id(self) -> str:
        return stable_hash(self.index[["case_id", "y", "split"]].values.tolist())


def part_manifest(name: str, spec, root: Path, max_images: int | None, seed: int) -> Manifest:
    """A part's images, labels `<name>:<class>` (class_map applied, drop_labels left out)."""
    adapter = get_adapter(spec.adapter, f"corpus part {name!r}: data.adapter")
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder of corpus part {name!r} not found "
                        f"(--data {name}=PATH)")
    records = [r for r in adapter.reader(root, spec) if not r.missing]
    records = [r for r in records if r.raw_label not in spec.drop_labels]
    if not records:
        raise DataError(f"{root}: no labelled images for corpus part {name!r}")
    frame = pd.DataFrame({
        "path": [relative_locator(r.path, root) for r in records],
        "raw_label": [r.raw_label for r in records],
        "label": [f"{name}:{spec.class_map.get(r.raw_label, r.raw_label)}" for r in records],
        "group": [f"{name}:{r.group}" if r.group else None for r in records],
        "masks": "", "release_part": [r.part for r in records], "y": 0,
    })
    frame["case_id"] = f"{name}:" + frame["path"]
    frame["group"] = frame["group"].fillna(frame["case_id"])
    if max_images and max_images < len(frame):
        splits = max(2, round(len(frame) / max_images))
        y = pd.factorize(frame["label"])[0]
        _, chosen = next(StratifiedGroupKFold(splits, shuffle=True, random_state=seed).split(
            frame, y, frame["group"]))
        frame = frame.iloc[np.sort(chosen)].reset_index(drop=True)
    return Manifest(root, frame[COLUMNS])


def load_corpus_data(corpus: CorpusConfig, roots: dict[str, Path], cache_dir: Path | None = None,
                     on_part: Callable[[str, int], None] | None = None) -> Corpus:
    """Read every part, decode it once into the image cache, and hold out a stratified,
    group-whole validation share."""
    manifests, arrays = [], []
    for part in corpus.parts:
        if part.name not in roots:
            raise ConfigError(f"corpus {corpus.name}: no folder for part {part.name!r}; pass "
                              f"--data {part.name}=PATH (or set its data.root)")
        manifest = part_manifest(part.name, part.data, roots[part.name], part.max_images,
                                 corpus.seed)
        windows = [(w.center, w.width) for w in part.data.windows]
        cache = build_cache(manifest, corpus.image_size, "nearest", cache_dir, windows=windows)
        manifests.append(manifest)
        arrays.append(cache.images())
        if on_part:
            on_part(part.name, len(manifest.frame))
    frames = [m.frame.assign(part=i, row=np.arange(len(m.frame))) for i, m in enumerate(manifests)]
    index = pd.concat(frames, ignore_index=True)
    classes = sorted(index["label"].unique())
    if len(classes) < 2:
        raise DataError(f"corpus {corpus.name}: one class only ({classes[0]}); need two or more")
    index["y"] = index["label"].map({c: i for i, c in enumerate(classes)})
    splitter = StratifiedGroupKFold(max(2, round(1 / corpus.val_fraction)), shuffle=True,
                                    random_state=corpus.seed)
    _, val = next(splitter.split(index, index["y"], index["group"]))
    index["split"] = "train"
    index.loc[val, "split"] = "val"
    return Corpus(classes, arrays, index[["part", "row", "y", "case_id", "group", "split"]],
                  manifests)


def part_roots(corpus: CorpusConfig, corpus_file: Path | None,
               data: list[str] | None) -> dict[str, Path]:
    """Each part's folder: `--data NAME=PATH` (or a bare PATH for a one-part corpus), else the
    part's data.root relative to the corpus file."""
    roots: dict[str, Path] = {}
    for part in corpus.parts:
        if part.data.root:
            root = Path(part.data.root).expanduser()
            roots[part.name] = root if root.is_absolute() or corpus_file is None \
                else corpus_file.parent / root
    names = [p.name for p in corpus.parts]
    for item in data or []:
        name, sep, path = item.partition("=")
        if not sep:
            if len(names) != 1:
                raise ConfigError(f"--data {item}: corpus {corpus.name} has parts "
                                  f"{', '.join(names)}; write --data NAME=PATH")
            name, path = names[0], item
        if name not in names:
            raise ConfigError(f"--data {item}: no part {name!r} in corpus {corpus.name} "
                              f"(parts: {', '.join(names)})")
        roots[name] = Path(path).expanduser()
    return roots


def _batches(corpus: Corpus, split: str, batch_size: int, shuffle: bool, seed: int):
    import keras

    class CorpusBatches(keras.utils.PyDataset):
        """Batches drawn across the parts' caches, with one-hot targets over all classes."""

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            rows = corpus.index[corpus.index["split"] == split]
            self.part, self.row = rows["part"].to_numpy(), rows["row"].to_numpy()
            self.targets = np.eye(len(corpus.classes), dtype="float32")[rows["y"].to_numpy()]
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(rows))
            if shuffle:
                self.rng.shuffle(self.order)

        def __len__(self) -> int:
            return math.ceil(len(self.order) / batch_size)

        def __getitem__(self, i: int):
            take = self.order[i * batch_size:(i + 1) * batch_size]
            x = np.stack([corpus.arrays[p][r] for p, r in zip(self.part[take], self.row[take])])
            return x.astype("float32"), self.targets[take]

        def on_epoch_end(self) -> None:
            if shuffle:
                self.rng.shuffle(self.order)

    return CorpusBatches()


def _nested_base(model):
    import keras

    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def pretrain(corpus_config: CorpusConfig, backbone: str, out: Path, roots: dict[str, Path],
             work_dir: Path | None = None, epochs: int | None = None,
             cache_dir: Path | None = None, log: Callable[[str], None] = print,
             verbose: int = 2) -> dict:
    """Train, checkpoint each epoch (resumable), calibrate BatchNorm, write the notop weights
    file `out` (must end in .weights.h5) and `out`.json describing it. Returns that record."""
    out = Path(out)
    if not out.name.endswith(WEIGHTS_SUFFIX):
        raise ConfigError(f"--out {out}: the weights file name must end in {WEIGHTS_SUFFIX}")
    minimum = get_backbone(backbone).min_size  # an unknown name stops here, before any reading
    if corpus_config.image_size < minimum:
        raise ConfigError(f"{corpus_config.key('image_size')}: {backbone} needs images of at "
                          f"least {minimum} px, got {corpus_config.image_size}")
    from radbench.quiet import import_backend_quietly

    import_backend_quietly()  # pretraining runs in radbench's own process: keep its terminal clean
    import keras

    from radbench.models.build import build_classifier

    epochs = epochs or corpus_config.epochs
    work = Path(work_dir) if work_dir else out.with_name(out.name[: -len(WEIGHTS_SUFFIX)] + ".work")
    started = time.perf_counter()
    corpus = load_corpus_data(corpus_config, roots, cache_dir,
                              on_part=lambda name, n: log(f"corpus part {name}: {n} images"))
    counts = corpus.index["split"].value_counts().to_dict()
    log(f"corpus {corpus_config.name}: {len(corpus.classes)} classes, {counts.get('train', 0)} "
        f"train / {counts.get('val', 0)} held-out images")
    training = Training(image_size=corpus_config.image_size, batch_size=corpus_config.batch_size,
                        epochs=epochs, normalization=corpus_config.normalization,
                        augmentation=corpus_config.augmentation)
    keras.utils.set_random_seed(corpus_config.seed)
    state_file, checkpoint = work / "state.json", work / "checkpoint.keras"
    identity = {"corpus_id": corpus.corpus_id, "backbone": backbone,
                "config": corpus_config.model_dump(mode="json")}
    state = json.loads(state_file.read_text()) if state_file.is_file() else None
    if state and state["identity"] == identity and checkpoint.is_file():
        model = keras.models.load_model(checkpoint, safe_mode=True)
        log(f"resuming after epoch {state['epochs_done']} from {checkpoint}")
    else:
        state = {"identity": identity, "epochs_done": 0, "history": []}
        model, _ = build_classifier(backbone, training, "unfreezeall", None, corpus_config.seed,
                                    classes=len(corpus.classes))
        model.compile(optimizer=keras.optimizers.Adam(corpus_config.lr),
                      loss="categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    model.run_eagerly = run_eagerly()  # RADBENCH_RUN_EAGERLY, as for cells
    work.mkdir(parents=True, exist_ok=True)

    train = _batches(corpus, "train", corpus_config.batch_size, True,
                     corpus_config.seed + state["epochs_done"])
    val = _batches(corpus, "val", corpus_config.batch_size, False, 0)
    plain = _batches(corpus, "train", corpus_config.batch_size, True, corpus_config.seed)

    def calibrate_and_evaluate() -> tuple[float, float, int]:
        base = _nested_base(model)
        layers = calibrate_batchnorm(model, base, plain, corpus_config.calibration_batches)
        loss, accuracy = model.evaluate(val, verbose=0)
        return float(loss), float(accuracy), layers

    class EpochEnd(keras.callbacks.Callback):
        """Held-out accuracy with re-estimated BatchNorm statistics, then a checkpoint."""

        def on_epoch_end(self, epoch, logs=None):
            loss, accuracy, _ = calibrate_and_evaluate()
            log(f"epoch {epoch + 1}/{epochs}: train accuracy {float((logs or {}).get('accuracy', 0)):.3f}, "
                f"held-out accuracy {accuracy:.3f} (loss {loss:.3f})")
            partial = work / "checkpoint.partial.keras"
            self.model.save(partial)
            partial.replace(checkpoint)
            state["epochs_done"] = epoch + 1
            state["history"].append({"epoch": epoch + 1, "heldout_accuracy": accuracy,
                                     "heldout_loss": loss, **{k: float(v) for k, v in
                                                             (logs or {}).items()}})
            atomic_write_json(state_file, state)

    if state["epochs_done"] < epochs:
        # no validation_data: Keras would score the held-out images with BatchNorm moving
        # averages that lag far behind; EpochEnd scores them after re-estimating those.
        model.fit(train, epochs=epochs, initial_epoch=state["epochs_done"],
                  callbacks=[EpochEnd()], verbose=verbose)
    loss, accuracy, calibrated = calibrate_and_evaluate()
    base = _nested_base(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(".partial-" + out.name)
    base.save_weights(partial)
    partial.replace(out)
    record = {
        "weights": str(out.resolve()), "sha256": file_sha256(out), "backbone": backbone,
        "corpus": corpus_config.name, "corpus_id": corpus.corpus_id, "classes": corpus.classes,
        "images": counts, "epochs": epochs,
        "normalization": corpus_config.normalization, "heldout_accuracy": float(accuracy),
        "heldout_loss": float(loss), "chance_accuracy": float(
            corpus.index.loc[corpus.index["split"] == "val", "y"].value_counts(normalize=True).max()),
        "batchnorm_layers_calibrated": calibrated, "history": state["history"],
        "seconds": time.perf_counter() - started,
    }
    atomic_write_json(out.with_name(out.name[: -len(WEIGHTS_SUFFIX)] + ".json"), record)
    log(f"held-out accuracy {accuracy:.3f} (majority class {record['chance_accuracy']:.3f}); "
        f"wrote {out}")
    return record
