"""A real full disk (a small tmpfs this test mounts, as root, as CI runs) under every command: one line naming
the folder and its free space, exit 1 (work that failed, not bad input), nothing half-written at a final path,
and with space again the same command completes. What dashboards read (TensorBoard event files, W&B offline
records, the CSV log) is checked record by record."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.conftest import needed, script
from tests.test_bench import TINY as TINY_BENCH
from tests.test_sweep import wait_for_checkpoint

pytestmark = pytest.mark.slow  # whole commands

TRAIN = ["experiment=quickstart", "model.width=32", "progress_bar=false"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 24 MB filesystem (tmpfs) that the test can fill; mounting one needs root, as CI runs."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        needed("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        needed(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path, leave: int = 0, name: str = "filler") -> Path:
    """Writes until the filesystem is full (the next write anywhere on it fails with ENOSPC, as on a real full
    disk), then gives back ``leave`` bytes."""
    filler = folder / name
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _masked_crc32c(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c

    x = crc32c(data)
    return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tensorboard_scalars(path: Path) -> list[tuple[str, int]]:
    """(tag, step) of every record of an event file, each record's two CRCs checked; fails on a record cut
    short or damaged."""
    from tensorboardX.proto import event_pb2

    data, at, out = path.read_bytes(), 0, []
    while at < len(data):
        assert at + 12 <= len(data), f"{path}: a record header cut short at byte {at}"
        (n,) = struct.unpack("<Q", data[at : at + 8])
        assert struct.unpack("<I", data[at + 8 : at + 12])[0] == _masked_crc32c(data[at : at + 8]), path
        assert at + 16 + n <= len(data), f"{path}: a record cut short at byte {at}"
        body = data[at + 12 : at + 12 + n]
        assert struct.unpack("<I", data[at + 12 + n : at + 16 + n])[0] == _masked_crc32c(body), path
        event = event_pb2.Event.FromString(body)
        out += [(v.tag, event.step) for v in event.summary.value]
        at += 16 + n
    return out


def wandb_records(path: Path) -> int:
    """The records of a W&B offline run file (its header, then LevelDB-log records in 32 KiB blocks: CRC-32
    of type and data, length, type), each checked; fails on a record cut short or damaged."""
    data, at, count = path.read_bytes(), 7, 0
    assert data[:4] == b":W&B", f"{path}: no W&B header ({len(data)} bytes)"
    while at < len(data):
        if 32768 - at % 32768 < 7:  # a block's tail too short for a header is padding
            at += 32768 - at % 32768
            continue
        assert at + 7 <= len(data), f"{path}: a record header cut short at byte {at}"
        crc, length, kind = struct.unpack("<IHB", data[at : at + 7])
        assert at + 7 + length <= len(data), f"{path}: a record cut short at byte {at}"
        assert zlib.crc32(data[at + 6 : at + 7 + length]) == crc, f"{path}: a damaged record at byte {at}"
        count, at = count + 1, at + 7 + length
    return count


def one_error_line(err: str, command: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith(f"{command}: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert "no space left on the device of" in lines[0] and "MiB free there" in lines[0], lines[0]
    return lines[0]


def test_a_real_full_disk_is_one_line_and_the_relaunch_with_space_completes(small_tmpfs, cli_env):
    """Outputs on a real filesystem that fills up mid-run (CSV, TensorBoard and W&B logs, checkpoints):
    one line naming the folder and its free space, exit 1, metrics.json failed (never running or completed),
    no truncated file at a final path; freed, the same command resumes and completes, and every log a
    dashboard reads is whole, with every epoch in it."""
    env = {**cli_env, "SCATNET_OUTPUTS": str(small_tmpfs / "outputs"), "WANDB_DIR": str(small_tmpfs)}
    run = small_tmpfs / "outputs" / "run"
    args = [script("scatnet-train"), *TRAIN, "trainer.max_epochs=8", "logger=many", f"hydra.run.dir={run}"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_checkpoint(small_tmpfs / "outputs", pattern="run/checkpoints/last.ckpt")
    filler = fill(small_tmpfs)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    one_error_line(err, "scatnet-train")
    m = json.loads((run / "metrics.json").read_text())
    assert m["status"] == "failed" and "no space left" in m["reason"]
    assert not list(run.rglob("*.tmp"))  # nothing half-written at a final path
    import torch

    assert "state_dict" in torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    filler.unlink()
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    m = json.loads((run / "metrics.json").read_text())
    assert m["status"] == "completed" and m["resumed_from_epoch"] >= 1 and m["epochs_completed"] == 8

    with open(run / "csv" / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["val/acc"]]
    assert sorted(int(r["epoch"]) for r in rows) == list(range(8))  # each epoch once, every row whole
    events = sorted((run / "tensorboard").rglob("events.out.tfevents.*"))
    scalars = [s for e in events for s in tensorboard_scalars(e)]  # every file whole, record by record
    assert len({step for tag, step in scalars if tag == "val/acc"}) == 8 and ("test/acc" in {t for t, _ in scalars})
    records = sorted(run.glob("wandb/offline-run-*/run-*.wandb"))
    assert records and all(wandb_records(r) > 0 for r in records)  # none empty or cut short
    assert wandb_records(records[-1]) > 20  # the completing attempt's: its history, summary, files


def _wandb_fragment(kind: int, payload: bytes) -> bytes:
    return struct.pack("<IHB", zlib.crc32(bytes([kind]) + payload), len(payload), kind) + payload


def test_logs_cut_short_by_an_earlier_attempt_are_mended_before_the_next(tmp_path):
    """What a full disk or a kill can leave: an event file or a W&B offline record whose last record is cut
    short is trimmed to its whole records; a W&B record with no whole record goes (it recorded nothing)."""
    from tensorboardX import SummaryWriter

    from scatnet.training.run_folder import mend_logs_of_earlier_attempts

    writer = SummaryWriter(str(tmp_path / "tensorboard"))
    for step in range(5):
        writer.add_scalar("val/acc", step / 10, step)
    writer.close()
    (events,) = (tmp_path / "tensorboard").glob("events.out.tfevents.*")
    whole = len(tensorboard_scalars(events))
    os.truncate(events, events.stat().st_size - 7)  # the last record loses its tail
    header = b":W&B\xe1\xbe\x00"
    records = header + _wandb_fragment(1, b"run") + _wandb_fragment(2, b"history, first half")
    empty = tmp_path / "wandb" / "offline-run-1-a" / "run-a.wandb"
    cut = tmp_path / "wandb" / "offline-run-2-a" / "run-a.wandb"
    for record, content in ((empty, header[:5]), (cut, records + _wandb_fragment(4, b"second half")[:-3])):
        record.parent.mkdir(parents=True)
        record.write_bytes(content)

    mend_logs_of_earlier_attempts(tmp_path)
    assert [step for _, step in tensorboard_scalars(events)] == list(range(whole - 1))
    assert not empty.parent.exists()
    assert cut.read_bytes() == header + _wandb_fragment(1, b"run") and wandb_records(cut) == 1


def test_every_other_command_on_a_full_disk_is_one_line_exit_1_and_leaves_its_last_result_whole(
    small_tmpfs, tmp_path, cli_env
):
    """scatnet-report, -eval, -inspect and -bench writing to a full disk: one line naming the folder and its
    free space, exit 1, no temporary file left, a result written before unchanged; with space, they complete."""
    env = {**cli_env, "SCATNET_OUTPUTS": str(tmp_path / "outputs")}
    for seed in (0, 1):
        done = subprocess.run(
            [script("scatnet-train"), *TRAIN, "trainer.max_epochs=2", f"seed={seed}", "logger=csv"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    runs = tmp_path / "outputs"
    (run,) = [p.parent for p in runs.rglob("metrics.json")][:1]
    report = small_tmpfs / "report"
    first = subprocess.run([script("scatnet-report"), str(runs), "--out", str(report)], env=env, capture_output=True)
    assert first.returncode == 0 and (report / "report.html").is_file(), first.stderr[-2000:]
    before = {p.name: p.read_bytes() for p in report.iterdir()}

    commands = {
        "scatnet-report": [str(runs), "--out", str(report)],
        "scatnet-eval": [str(run), "--device", "cpu", "--out", str(small_tmpfs / "eval" / "eval.json")],
        "scatnet-inspect": ["--run", str(run), "--out", str(small_tmpfs / "inspect.png")],
        "scatnet-bench": [*TINY_BENCH, "--only", "thesis default", "--out", str(small_tmpfs / "bench")],
    }
    fillers = [fill(small_tmpfs, leave=8192)]  # room for a small table, not for a figure or a page
    for command, args in commands.items():
        res = subprocess.run([script(command), *args], env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 1, (command, res.stderr[-3000:])
        one_error_line(res.stderr, command)
        fillers.append(fill(small_tmpfs, name=f"filler-{command}"))  # after the report: not a byte free
    assert not [p for p in small_tmpfs.rglob("*") if p.name.endswith(".tmp")]
    assert not (small_tmpfs / "eval" / "eval.json").exists() and not (small_tmpfs / "inspect.png").exists()
    assert not (small_tmpfs / "bench" / "bench.json").exists() or json.loads(
        (small_tmpfs / "bench" / "bench.json").read_text()
    )  # whatever bench.json was written is whole
    assert (report / "report.html").read_bytes() == before["report.html"]  # the last report, whole
    for filler in fillers:
        filler.unlink()
    for command, args in commands.items():
        res = subprocess.run([script(command), *args], env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, (command, res.stderr[-3000:])
    assert json.loads((small_tmpfs / "eval" / "eval.json").read_text())["test_acc"] > 0
    assert json.loads((small_tmpfs / "bench" / "bench.json").read_text())["status"] == "completed"
