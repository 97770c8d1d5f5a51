"""CIFAR-10 / CIFAR-100 from the canonical python tarballs, with torchvision's MD5 checksums.

Layout read (exactly what the tarballs extract): ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch,
batches.meta}`` and ``<root>/cifar-100-python/{train, test, meta}``. Each batch is a pickled dict with
``data`` (N x 3072 uint8, R then G then B planes, row-major) and ``labels`` / ``fine_labels``.
"""
from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from scatnet.data.download import fetch, read_md5_table, verify_md5
from scatnet.data.imageset import ImageSet
from scatnet.errors import DataError, check_choice


@dataclass(frozen=True)
class CIFARSpec:
    url: str
    archive: str
    archive_md5: str
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    label_key: str
    names_key: str
    md5: dict = field(default_factory=dict)


SPECS = {
    "cifar10": CIFARSpec(
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", archive="cifar-10-python.tar.gz",
        archive_md5="c58f30108f718f92721af3b95e74349a", folder="cifar-10-batches-py",
        train=("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"),
        test=("test_batch",), meta="batches.meta", label_key="labels", names_key="label_names",
        md5={"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
             "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
             "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
             "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}),
    "cifar100": CIFARSpec(
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", archive="cifar-100-python.tar.gz",
        archive_md5="eb9058c3a382ffc7106e4002c42a8d85", folder="cifar-100-python",
        train=("train",), test=("test",), meta="meta", label_key="fine_labels", names_key="fine_label_names",
        md5={"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
             "meta": "7973b15100ade9c7d40fb424638fde48"}),
}


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


class CIFARSource:
    """Loads (train, test) for ``name`` in {cifar10, cifar100} from ``root``, downloading if allowed.

    ``url``, ``archive_md5`` and ``file_md5`` default to the official values; override them for a mirror
    (``file_md5`` is a {file: md5} mapping or the path of a ``md5sum``-format file).
    """

    def __init__(self, name: str, root: str | Path, download: bool = True, url: str | None = None,
                 archive_md5: str | None = None, file_md5: dict | None = None):
        check_choice("data.name", name, tuple(SPECS))
        self.spec = SPECS[name]
        self.root = Path(root).expanduser()
        self.download = download
        self.url = url or self.spec.url
        self.archive_md5 = archive_md5 or self.spec.archive_md5
        self.file_md5 = read_md5_table(file_md5) if file_md5 else dict(self.spec.md5)

    @property
    def folder(self) -> Path:
        return self.root / self.spec.folder

    def _files(self) -> tuple[str, ...]:
        return (*self.spec.train, *self.spec.test, self.spec.meta)

    def prepare(self) -> None:
        """Extract from the (verified, possibly downloaded) archive unless every file is already there."""
        if all((self.folder / f).exists() for f in self._files()):
            return
        archive = fetch(self.url, self.root / self.spec.archive, self.archive_md5, self.download)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(self.root, filter="data")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"cannot extract {archive} ({e}); delete it and rerun to download it again") from None

    def _read(self, fname: str) -> dict:
        path = self.folder / fname
        if not path.exists():
            raise DataError(f"{path} is missing; delete {self.folder} and rerun to extract {self.spec.archive} again")
        verify_md5(path, self.file_md5[fname], f"delete {self.folder} and rerun to extract it again")
        return _unpickle(path)

    def _split(self, files: tuple[str, ...], classes: list[str]) -> ImageSet:
        xs, ys = [], []
        for f in files:
            d = self._read(f)
            xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[self.spec.label_key], dtype=np.int64))
        return ImageSet(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)), classes)

    def load(self) -> tuple[ImageSet, ImageSet]:
        self.prepare()
        classes = [str(c) for c in self._read(self.spec.meta)[self.spec.names_key]]
        return self._split(self.spec.train, classes), self._split(self.spec.test, classes)
