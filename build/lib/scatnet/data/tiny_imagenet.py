"""Tiny ImageNet (200 classes, 64x64) from ``tiny-imagenet-200.zip``, decoded once into a uint8 cache.

Train: ``train/<wnid>/images/*.JPEG``. Evaluation: the labelled ``val/`` split through
``val/val_annotations.txt`` (the ``test/`` split has no labels). Class indices are the sorted ``wnids.txt``,
the same for both splits. Integrity: the archive's MD5, then zipfile's per-member CRC-32 while extracting.

Decoding 110k JPEGs takes a minute, so each split is cached as ``scatnet-<split>.npz`` next to the data with a
key (file list, sizes, mtimes) and a CRC-32 of the pixels; a stale or corrupt cache is rebuilt, atomically.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from scatnet.data.download import fetch
from scatnet.data.imageset import ImageSet
from scatnet.errors import DataError

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
ARCHIVE = "tiny-imagenet-200.zip"
ARCHIVE_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
FOLDER = "tiny-imagenet-200"
CACHE_VERSION = 1


def _decode(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:  # a few Tiny ImageNet JPEGs are greyscale
        return np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


class TinyImageNetSource:
    def __init__(self, root: str | Path, download: bool = True, url: str | None = None,
                 archive_md5: str | None = None, image_size: int = 64, workers: int | None = None):
        self.root = Path(root).expanduser()
        self.folder = self.root / FOLDER
        self.download, self.url = download, url or URL
        self.archive_md5 = archive_md5 or ARCHIVE_MD5
        self.image_size = image_size
        self.workers = workers or min(16, os.cpu_count() or 1)

    # -- files ------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        if (self.folder / "wnids.txt").exists() and (self.folder / "val" / "val_annotations.txt").exists():
            return
        archive = fetch(self.url, self.root / ARCHIVE, self.archive_md5, self.download)
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(self.root)  # reading each member checks its CRC-32
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DataError(f"cannot extract {archive} ({e}); delete it and rerun to download it again") from None

    def classes(self) -> list[str]:
        path = self.folder / "wnids.txt"
        wnids = sorted({w.strip() for w in path.read_text().split() if w.strip()})
        if not wnids:
            raise DataError(f"{path} lists no classes; delete {self.folder} and rerun to extract it again")
        return wnids

    def _listing(self, split: str, classes: list[str]) -> tuple[list[Path], list[int]]:
        index = {w: i for i, w in enumerate(classes)}
        if split == "train":
            paths, labels = [], []
            for w in classes:
                files = sorted((self.folder / "train" / w / "images").glob("*.JPEG"))
                if not files:
                    raise DataError(f"no images in {self.folder / 'train' / w / 'images'}; delete {self.folder} "
                                    "and rerun to extract it again")
                paths += files
                labels += [index[w]] * len(files)
            return paths, labels
        ann = self.folder / "val" / "val_annotations.txt"
        paths, labels = [], []
        for line in ann.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            if parts[1] not in index:
                raise DataError(f"{ann} names class {parts[1]!r}, which is not in wnids.txt; the dataset is "
                                f"inconsistent: delete {self.folder} and rerun")
            paths.append(self.folder / "val" / "images" / parts[0])
            labels.append(index[parts[1]])
        return paths, labels

    # -- cache ------------------------------------------------------------------------------------------
    def _cache_path(self, split: str) -> Path:
        return self.folder / f"scatnet-{split}.npz"

    @staticmethod
    def _key(paths: list[Path], labels: list[int]) -> str:
        h = zlib.crc32(json.dumps(CACHE_VERSION).encode())
        for p, y in zip(paths, labels):
            st = p.stat()
            h = zlib.crc32(f"{p.name}:{y}:{st.st_size}:{st.st_mtime_ns};".encode(), h)
        return f"{len(paths)}-{h:08x}"

    def _read_cache(self, path: Path, key: str) -> ImageSet | None:
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) != key:
                    return None
                images, labels = z["images"], z["labels"]
                if zlib.crc32(images.tobytes()) != int(z["crc"]):
                    return None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return None  # missing, truncated or corrupt: rebuild
        return ImageSet(torch.from_numpy(images), torch.from_numpy(labels))

    def _build(self, split: str, classes: list[str]) -> ImageSet:
        paths, labels = self._listing(split, classes)
        key = self._key(paths, labels)
        cache = self._cache_path(split)
        cached = self._read_cache(cache, key)
        if cached is not None:
            cached.classes = classes
            return cached
        with ThreadPoolExecutor(self.workers) as pool:  # PIL releases the GIL while decoding
            try:
                arrays = list(pool.map(_decode, paths))
            except (OSError, SyntaxError) as e:
                raise DataError(f"cannot decode a {split} image ({e}); delete {self.folder} and rerun") from None
        s = self.image_size
        bad = [p for p, a in zip(paths, arrays) if a.shape != (3, s, s)]
        if bad:
            raise DataError(f"{bad[0]} is not {s}x{s} ({len(bad)} such files); this is not Tiny ImageNet as released")
        images = np.stack(arrays)
        y = np.asarray(labels, dtype=np.int64)
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, images=images, labels=y, key=np.asarray(key), crc=np.asarray(zlib.crc32(images.tobytes())))
        os.replace(tmp, cache)
        return ImageSet(torch.from_numpy(images), torch.from_numpy(y), classes)

    def load(self) -> tuple[ImageSet, ImageSet]:
        self.prepare()
        classes = self.classes()
        return self._build("train", classes), self._build("val", classes)
