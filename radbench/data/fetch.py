"""`radbench data fetch`: public files with a direct URL are downloaded (resumable, MD5 checked,
kept once verified); sets behind a login get the page to fetch them from and their layout."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from radbench.errors import DataError
from radbench.ids import file_md5

ZENODO = "https://zenodo.org/records/10519652/files"


@dataclass(frozen=True)
class Download:
    file: str
    md5: str
    task: str

    def url(self, mirror: str | None = None) -> str:
        return f"{(mirror or ZENODO).rstrip('/')}/{self.file}" + ("" if mirror else "?download=1")


_MEDMNIST = {  # MedMNIST v2+ INFO (medmnist/info.py): file name -> MD5
    "breastmnist.npz": "750601b1f35ba3300ea97c75c52ff8f6",
    "breastmnist_64.npz": "742edef2a1fd1524b2efff4bd7ba9364",
    "breastmnist_128.npz": "363e4b3f8d712e9b5de15470a2aaadf1",
    "breastmnist_224.npz": "b56378a6eefa9fed602bb16d192d4c8b",
    "pneumoniamnist.npz": "28209eda62fecd6e6a2d98b1501bb15f",
    "pneumoniamnist_64.npz": "8f4eceb4ccffa70c672198ea285246c6",
    "pneumoniamnist_128.npz": "05b46931834c231683c68f40c47b2971",
    "pneumoniamnist_224.npz": "d6a3c71de1b945ea11211b03746c1fe1",
}
DOWNLOADS = {file.removesuffix(".npz"): Download(file, md5, file.split("mnist")[0] + "mnist")
             for file, md5 in _MEDMNIST.items()}

BY_HAND = {  # name -> (where to get it, the layout radbench expects, task)
    "busi": ("https://scholar.cu.edu.eg/?q=afahmy/pages/dataset (or Kaggle 'Breast Ultrasound "
             "Images Dataset')", "Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (N).png "
             "and <class> (N)_mask.png", "breast"),
    "ddti": ("http://cimalab.unal.edu.co/applications/thyroid/", "<case>.xml beside "
             "<case>_<N>.jpg (the release), or cropped/, mask/, diagnosis.csv (crops)", "thyroid"),
    "mrnet": ("https://stanfordmlgroup.github.io/competitions/mrnet/ (research-use agreement)",
              "train|valid/{axial,coronal,sagittal}/NNNN.npy, train-acl.csv, valid-acl.csv, "
              "train-meniscus.csv, valid-meniscus.csv", "acl, meniscus"),
    "rsna_pneumonia": ("https://www.kaggle.com/c/rsna-pneumonia-detection-challenge/data "
                       "(Kaggle login)", "stage_2_train_labels.csv, stage_2_train_images/"
                       "<patientId>.dcm", "pneumonia"),
    "rsna_ich": ("https://www.kaggle.com/c/rsna-intracranial-hemorrhage-detection/data (Kaggle "
                 "login)", "stage_2_train.csv, stage_2_train/ID_<image>.dcm", "hemorrhage"),
    "covid19": ("the authors of Mei et al., Nat Med 2020 (on request)", "<positive|negative>/"
                "<patient>/<slice>.png, 10 slices per patient", "covid19"),
    "cc_ccii": ("http://ncov-ai.big.ac.cn/download", "NCP|CP|Normal/<patient>/<scan>/*.png|jpg",
                "sarscov2"),
    "head_ct": ("https://www.kaggle.com/datasets/felipekitamura/head-ct-hemorrhage (Kaggle login)",
                "images/NNN.png, labels.csv (id, hemorrhage)", "head_ct"),
}


def default_dest() -> Path:
    """$RADBENCH_DATA, else ~/.cache/radbench/datasets."""
    if os.environ.get("RADBENCH_DATA"):
        return Path(os.environ["RADBENCH_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "radbench" / "datasets"


def download(url: str, md5: str, target: Path, timeout: float = 30.0,
             on_bytes: Callable[[int], None] | None = None) -> Path:
    """Download `url` to `target`, resuming a `target.part` left by an earlier attempt; the file
    appears under its name only once its MD5 matches."""
    if target.is_file():
        if file_md5(target) == md5:
            return target
        raise DataError(f"{target}: exists but its MD5 is {file_md5(target)}, expected {md5}; "
                        f"delete it and fetch again")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            mode = "ab" if offset and response.status == 206 else "wb"
            with part.open(mode) as handle:
                for block in iter(lambda: response.read(1 << 16), b""):
                    handle.write(block)
                    if on_bytes:
                        on_bytes(len(block))
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part file is already complete
            pass
        else:
            raise DataError(f"cannot download {url} (HTTP {exc.code}); download it by hand and "
                            f"put it at {target} (MD5 {md5})") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot download {url} ({reason}); download it by hand and put it at "
                        f"{target} (MD5 {md5}); a rerun resumes a partial download") from None
    got = file_md5(part)
    if got != md5:
        part.unlink()
        raise DataError(f"{url}: downloaded file has MD5 {got}, expected {md5}; removed it, "
                        f"fetch again")
    part.rename(target)
    return target


def fetch(name: str, dest: Path | None = None, mirror: str | None = None,
          timeout: float = 30.0) -> Path:
    """Download one registered file into `dest` (default: `default_dest()`)."""
    if name not in DOWNLOADS:
        known = ", ".join(sorted(DOWNLOADS) + sorted(BY_HAND))
        raise DataError(f"unknown dataset {name!r}; known: {known}")
    item = DOWNLOADS[name]
    folder = Path(dest or default_dest())
    from radbench.writable import check_writable  # a read-only folder: one line, before the wait

    check_writable(folder, "--dest" if dest else "dataset folder (--dest or $RADBENCH_DATA)")
    return download(item.url(mirror), item.md5, folder / item.file, timeout)


def by_hand_lines(name: str) -> list[str]:
    page, layout, task = BY_HAND[name]
    return [f"{name} cannot be downloaded by radbench (behind a login or an agreement).",
            f"get it from: {page}", f"expected layout: {layout}",
            f"then: radbench data check {task.split(',')[0]} --data PATH"]
