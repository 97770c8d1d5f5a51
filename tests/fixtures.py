"""Small datasets written in the exact on-disk formats of the real archives (no network)."""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from scatnet.data.cifar import SPECS
from scatnet.data.download import md5sum


def cifar_images(n: int, num_classes: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """Class-dependent images (a per-class colour + noise) so that a network can learn them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    palette = np.random.default_rng(123).integers(30, 225, (num_classes, 3))
    x = palette[labels][:, :, None, None] + rng.normal(0, 20, (n, 3, 32, 32))
    return np.clip(x, 0, 255).astype(np.uint8), labels.tolist()


def write_cifar(root: Path, name: str = "cifar10", n_train: int = 300, n_test: int = 100) -> dict:
    """Write <root>/<folder>/ batches exactly as the python tarball has them; return {file: md5}."""
    spec = SPECS[name]
    num_classes = 10 if name == "cifar10" else 100
    folder = Path(root) / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    x, y = cifar_images(n_train + n_test, num_classes, seed=1)
    chunks = np.array_split(np.arange(n_train), len(spec.train))
    for fname, idx in zip(spec.train, chunks):
        _dump(folder / fname, x[idx], [y[i] for i in idx], spec.label_key)
    _dump(folder / spec.test[0], x[n_train:], y[n_train:], spec.label_key)
    names = [f"class{i}" for i in range(num_classes)]
    with open(folder / spec.meta, "wb") as f:
        pickle.dump({spec.names_key: names, "num_cases_per_batch": len(chunks[0])}, f)
    return {f: md5sum(folder / f) for f in (*spec.train, *spec.test, spec.meta)}


def _dump(path: Path, x: np.ndarray, labels: list[int], label_key: str) -> None:
    d = {
        "batch_label": path.name,
        label_key: list(map(int, labels)),
        "data": x.reshape(len(x), -1),
        "filenames": [f"{i}.png" for i in range(len(x))],
    }
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


def tar_cifar(root: Path, name: str = "cifar10") -> Path:
    """Pack a fixture folder into the archive name the real download has."""
    spec = SPECS[name]
    archive = Path(root) / spec.archive
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(Path(root) / spec.folder, arcname=spec.folder)
    return archive


TINY_WNIDS = ["n01443537", "n01629819", "n01641577", "n02058221"]  # deliberately not written sorted below


def write_tiny_imagenet(root: Path, per_class: int = 6, val_per_class: int = 3, as_zip: bool = False) -> Path:
    """A tiny-imagenet-200 folder (or zip) with a handful of wnids, JPEGs, wnids.txt, val_annotations.txt."""
    from PIL import Image

    files: dict[str, bytes] = {}
    wnids = list(reversed(TINY_WNIDS))
    files["tiny-imagenet-200/wnids.txt"] = ("\n".join(wnids) + "\n").encode()
    rng = np.random.default_rng(0)

    def jpeg(cls: int, grey: bool = False) -> bytes:
        base = np.full((64, 64, 3), 40 + 50 * cls, np.uint8) + rng.integers(0, 10, (64, 64, 3), dtype=np.uint8)
        im = Image.fromarray(base).convert("L") if grey else Image.fromarray(base)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=95)
        return buf.getvalue()

    sorted_ids = sorted(TINY_WNIDS)
    for w in wnids:
        c = sorted_ids.index(w)
        for i in range(per_class):
            files[f"tiny-imagenet-200/train/{w}/images/{w}_{i}.JPEG"] = jpeg(c, grey=(i == 0))
        files[f"tiny-imagenet-200/train/{w}/{w}_boxes.txt"] = b""
    ann = []
    k = 0
    for w in wnids:
        c = sorted_ids.index(w)
        for _ in range(val_per_class):
            files[f"tiny-imagenet-200/val/images/val_{k}.JPEG"] = jpeg(c)
            ann.append(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63")
            k += 1
    files["tiny-imagenet-200/val/val_annotations.txt"] = ("\n".join(ann) + "\n").encode()
    files["tiny-imagenet-200/test/images/test_0.JPEG"] = jpeg(0)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if as_zip:
        path = root / "tiny-imagenet-200.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        return path
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root / "tiny-imagenet-200"
