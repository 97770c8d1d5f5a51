"""CIFAR and Tiny ImageNet read from fixtures in the exact on-disk formats; verified downloads; clear errors."""

from __future__ import annotations

import json
import pickle
import subprocess

import numpy as np
import pytest
import torch

from scatnet.data.cifar import CIFARSource
from scatnet.data.download import md5sum
from scatnet.data.tiny_imagenet import TinyImageNetSource
from scatnet.errors import DataError
from tests.conftest import script
from tests.fixtures import TINY_WNIDS, tar_cifar, write_cifar, write_tiny_imagenet

DEAD_URL = "http://127.0.0.1:9/cifar-10-python.tar.gz"  # loopback discard port: refused at once, no network


@pytest.mark.parametrize("name,n_classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_fixture_reads_images_labels_and_classes(tmp_path, name, n_classes):
    md5 = write_cifar(tmp_path, name, n_train=300, n_test=100)
    train, test = CIFARSource(name, tmp_path, download=False, file_md5=md5).load()
    assert train.images.shape == (300, 3, 32, 32) and test.images.shape == (100, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.classes == [f"class{i}" for i in range(n_classes)]
    spec = CIFARSource(name, tmp_path).spec
    raw = pickle.load(open(tmp_path / spec.folder / spec.train[0], "rb"), encoding="latin1")
    assert torch.equal(train.images[0].flatten(), torch.from_numpy(raw["data"][0]))  # R, G, B planes in order
    assert train.labels[:5].tolist() == raw[spec.label_key][:5]


def test_official_checksums_reject_files_that_are_not_the_release(tmp_path):
    write_cifar(tmp_path, "cifar10")
    with pytest.raises(DataError, match=r"batches\.meta is corrupt or incomplete .*expected 5ff9c542"):
        CIFARSource("cifar10", tmp_path, download=False).load()


def test_download_verifies_md5_then_renames_and_extracts(tmp_path):
    src = tmp_path / "mirror"
    md5 = write_cifar(src, "cifar10", n_train=50, n_test=20)
    archive = tar_cifar(src, "cifar10")
    root = tmp_path / "root"
    source = CIFARSource("cifar10", root, url=archive.as_uri(), archive_md5=md5sum(archive), file_md5=md5)
    train, test = source.load()
    assert len(train) == 50 and len(test) == 20
    assert (root / "cifar-10-python.tar.gz").exists()
    assert not list(root.glob("*.part"))


def test_corrupt_download_is_deleted_and_named(tmp_path):
    src = tmp_path / "mirror"
    write_cifar(src, "cifar10", n_train=50, n_test=20)
    archive = tar_cifar(src, "cifar10")
    root = tmp_path / "root"
    with pytest.raises(DataError, match="is corrupt .*it was deleted"):
        CIFARSource("cifar10", root, url=archive.as_uri(), archive_md5="0" * 32).load()
    assert not (root / "cifar-10-python.tar.gz").exists() and not list(root.glob("*.part"))
    assert not (root / "cifar-10-batches-py").exists()


def test_a_download_that_cannot_be_written_says_so_not_no_network(tmp_path):
    src = tmp_path / "mirror"
    write_cifar(src, "cifar10", n_train=50, n_test=20)
    archive = tar_cifar(src, "cifar10")
    blocker = tmp_path / "root"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(DataError) as e:
        CIFARSource("cifar10", blocker / "sub", url=archive.as_uri(), archive_md5=md5sum(archive)).load()
    msg = str(e.value)
    assert f"failed while writing {blocker}" in msg and "no network" not in msg and archive.as_uri() in msg


def test_corrupt_extracted_file_is_named(tmp_path):
    md5 = write_cifar(tmp_path, "cifar10", n_train=50, n_test=20)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    blob = bytearray(path.read_bytes())
    blob[100] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="data_batch_3 is corrupt or incomplete.*delete .*cifar-10-batches-py"):
        CIFARSource("cifar10", tmp_path, download=False, file_md5=md5).load()


def test_no_network_and_no_files_names_url_path_and_file(tmp_path):
    with pytest.raises(DataError) as e:
        CIFARSource("cifar10", tmp_path, url=DEAD_URL).load()
    msg = str(e.value)
    assert DEAD_URL in msg and str(tmp_path / "cifar-10-python.tar.gz") in msg and "c58f3010" in msg
    with pytest.raises(DataError, match="downloads are off"):
        CIFARSource("cifar10", tmp_path, download=False).load()
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.slow
def test_cli_missing_data_is_one_line_and_exit_2(tmp_path, cli_env):
    proc = subprocess.run(
        [
            script("scatnet-train"),
            "data=cifar10",
            f"data.root={tmp_path / 'empty'}",
            f"+data.source.url={DEAD_URL}",
            "progress_bar=false",
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(err) == 1 and "cannot download" in err[0] and "cifar-10-python.tar.gz" in err[0]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["status"] == "failed"


def test_env_var_sets_the_data_root(tmp_path, monkeypatch):
    from tests.conftest import compose

    monkeypatch.setenv("SCATNET_DATA", str(tmp_path / "elsewhere"))
    cfg = compose(["data=cifar10"], tmp_path / "run")
    assert cfg.data.source.root == str(tmp_path / "elsewhere")


def test_tiny_imagenet_folder_train_val_and_class_mapping(tmp_path):
    folder = write_tiny_imagenet(tmp_path, per_class=6, val_per_class=3)
    train, val = TinyImageNetSource(tmp_path, download=False).load()
    assert train.classes == sorted(TINY_WNIDS) == val.classes
    assert train.images.shape == (24, 3, 64, 64) and val.images.shape == (12, 3, 64, 64)
    assert torch.bincount(train.labels).tolist() == [6] * 4 and torch.bincount(val.labels).tolist() == [3] * 4
    # the fixture paints class c at brightness 40 + 50c: the label must follow the wnid, in both splits
    for s in (train, val):
        brightness = s.images.float().mean(dim=(1, 2, 3))
        assert torch.all((brightness - (40 + 50 * s.labels.float())).abs() < 12)
    assert (folder / "scatnet-train.npz").exists() and (folder / "scatnet-val.npz").exists()


def test_tiny_imagenet_cache_is_reused_rebuilt_when_stale_or_corrupt(tmp_path):
    folder = write_tiny_imagenet(tmp_path)
    first, _ = TinyImageNetSource(tmp_path, download=False).load()
    cache = folder / "scatnet-train.npz"
    stamp = cache.stat().st_mtime_ns
    again, _ = TinyImageNetSource(tmp_path, download=False).load()
    assert torch.equal(first.images, again.images) and cache.stat().st_mtime_ns == stamp  # read, not rebuilt
    cache.write_bytes(cache.read_bytes()[:1000])  # truncated
    rebuilt, _ = TinyImageNetSource(tmp_path, download=False).load()
    assert torch.equal(first.images, rebuilt.images)
    with np.load(cache) as z:
        assert z["images"].shape == (24, 3, 64, 64)
    extra = folder / "train" / TINY_WNIDS[0] / "images" / "extra.JPEG"
    extra.write_bytes((folder / "train" / TINY_WNIDS[0] / "images" / f"{TINY_WNIDS[0]}_1.JPEG").read_bytes())
    stale, _ = TinyImageNetSource(tmp_path, download=False).load()
    assert len(stale) == 25


def test_tiny_imagenet_from_verified_zip(tmp_path):
    archive = write_tiny_imagenet(tmp_path / "mirror", as_zip=True)
    root = tmp_path / "root"
    train, val = TinyImageNetSource(root, url=archive.as_uri(), archive_md5=md5sum(archive)).load()
    assert len(train) == 24 and len(val) == 12
    with pytest.raises(DataError, match="is corrupt"):
        TinyImageNetSource(tmp_path / "root2", url=archive.as_uri(), archive_md5="f" * 32).load()


def test_digits_validates_on_its_own_split_never_on_the_test_set(tmp_path):
    from scatnet.training.builders import build
    from tests.conftest import compose

    dm = build(compose(["data=digits"], tmp_path).data)
    dm.setup("fit")
    sizes = len(dm.train_set), len(dm.val_set), len(dm.test_set)
    assert sizes == (1295, 143, 359) and sum(sizes) == 1797
    flat = {
        name: {bytes(img.numpy()) for img in split.images}
        for name, split in (("train", dm.train_set), ("val", dm.val_set), ("test", dm.test_set))
    }
    assert not flat["val"] & flat["test"] and not flat["val"] & flat["train"]
    assert sum(len(x) for x, _ in dm.val_dataloader()) == 143
    assert sum(len(x) for x, _ in dm.test_dataloader()) == 359
    assert sorted(dm.val_set.labels.bincount().tolist()) == [14] * 7 + [15] * 3  # stratified
