"""The device-resident loader: crops, flips, normalisation, determinism, DDP shards, a CIFAR-fixture run."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

from scatnet.data import DeviceLoader, ImageSet
from scatnet.data.augment import normalize, random_crop, random_flip
from tests.conftest import script
from tests.fixtures import write_cifar


def ramp_images(n: int, size: int = 8) -> torch.Tensor:
    """Images whose pixels are all distinct and non-zero, so any crop offset is identifiable."""
    base = torch.arange(1, 3 * size * size + 1).reshape(3, size, size) % 251 + 1
    return torch.stack([base] * n).to(torch.uint8)


def test_random_crop_is_a_window_of_the_zero_padded_image_within_bounds():
    p = 3
    x = ramp_images(64)
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, p, g)
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    seen = set()
    for i in range(len(x)):
        hits = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + 8, dx : dx + 8])
        ]
        assert hits, f"image {i} is not a crop within {p} pixels"
        seen.add(hits[0])
    assert len(seen) > 10  # offsets vary across the batch
    assert random_crop(x, 0) is x


def test_random_flip_flips_about_half_and_nothing_else():
    x = ramp_images(400)
    out = random_flip(x, torch.Generator().manual_seed(1))
    flipped = torch.tensor([torch.equal(o, i.flip(2)) for o, i in zip(out, x)])
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert torch.all(flipped ^ same)
    assert 150 < int(flipped.sum()) < 250


def test_normalisation_gives_zero_mean_unit_std_with_the_data_statistics():
    x = (torch.rand(500, 3, 8, 8) * 255).to(torch.uint8)
    f = x.float() / 255
    mean, std = f.mean(dim=(0, 2, 3)), f.std(dim=(0, 2, 3))
    loader = DeviceLoader(ImageSet(x, torch.zeros(500)), 128, mean, std, train=False)
    z = torch.cat([b for b, _ in loader])
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    assert torch.allclose(
        normalize(x[:1], mean.reshape(1, 3, 1, 1), std.reshape(1, 3, 1, 1)),
        (f[:1] - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1),
    )


def make_loader(n=1000, seed=0, rank=0, world=1, **kw):
    data = ImageSet(ramp_images(n), torch.arange(n))
    return DeviceLoader(
        data,
        64,
        [0.5] * 3,
        [0.25] * 3,
        train=True,
        crop_padding=2,
        flip=True,
        seed=seed,
        rank=rank,
        world_size=world,
        **kw,
    )


def epoch(loader, e):
    loader.set_epoch(e)
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


def test_deterministic_given_seed_and_reshuffled_every_epoch():
    a0, b0 = epoch(make_loader(seed=3), 0), epoch(make_loader(seed=3), 0)
    assert torch.equal(a0[0], b0[0]) and torch.equal(a0[1], b0[1])
    a1 = epoch(make_loader(seed=3), 1)
    assert not torch.equal(a0[1], a1[1])
    assert sorted(a0[1].tolist()) == sorted(a1[1].tolist()) == list(range(1000))  # every sample, once
    assert not torch.equal(a0[1], epoch(make_loader(seed=4), 0)[1])


def test_last_partial_batch_kept_or_dropped_as_documented():
    keep = make_loader(n=1000)
    assert len(keep) == 16 and [len(y) for _, y in keep][-1] == 1000 - 15 * 64
    drop = make_loader(n=1000, drop_last=True)
    assert len(drop) == 15 and all(len(y) == 64 for _, y in drop)


@pytest.mark.parametrize("n", [1000, 1003])
def test_two_ranks_get_disjoint_shards_covering_the_set(n):
    for e in range(3):
        r0, r1 = epoch(make_loader(n=n, rank=0, world=2), e)[1], epoch(make_loader(n=n, rank=1, world=2), e)[1]
        assert len(make_loader(n=n, rank=0, world=2)) == len(make_loader(n=n, rank=1, world=2))
        assert not set(r0.tolist()) & set(r1.tolist())
        assert set(r0.tolist()) | set(r1.tolist()) == set(range(n))


def test_eval_loader_is_ordered_and_complete():
    data = ImageSet(ramp_images(130), torch.arange(130))
    loader = DeviceLoader(data, 50, [0.5] * 3, [0.25] * 3, train=False)
    assert [len(y) for _, y in loader] == [50, 50, 30]
    assert torch.equal(torch.cat([y for _, y in loader]), torch.arange(130))


@pytest.mark.slow
def test_scatnet_train_on_the_cifar_fixture(tmp_path, cli_env):
    md5 = write_cifar(tmp_path / "cifar", "cifar10", n_train=400, n_test=100)
    table = tmp_path / "cifar.md5"
    table.write_text("".join(f"{v}  {k}\n" for k, v in md5.items()))
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            script("scatnet-train"),
            "data=cifar10",
            f"data.root={tmp_path / 'cifar'}",
            f"+data.source.file_md5={table}",
            "model.width=8",
            "trainer.max_epochs=4",
            "data.batch_size=32",
            "optim.lr=0.05",
            "optim.milestones=[3]",
            "progress_bar=false",
            f"hydra.run.dir={run_dir}",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "completed" and m["data"] == "cifar10" and m["epochs_completed"] == 4
    assert m["test_acc"] > 50.0  # the fixture's classes differ in colour: learnable, chance is 10%
