"""scripts/gpu_measure.sh, the command a GPU session runs, in its CPU dry run: every part writes the files
the session reads (the figures of a dry run mean nothing; the plumbing is what is checked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # whole commands or trainings


def test_every_part_writes_what_the_gpu_session_reads(tmp_path):
    env = dict(
        os.environ,
        SCATNET_GPU_DRY_RUN="1",
        PYTHON=sys.executable,
        OUT=str(tmp_path / "out"),
        RUNS_DIR=str(tmp_path / "runs"),
        PYTHONWARNINGS="ignore",
        PYTHONPATH=str(REPO),
    )
    proc = subprocess.run(
        ["bash", "scripts/gpu_measure.sh", "all"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    gpu_tests = (out / "gpu-tests.txt").read_text()
    assert re.search(r"\b\d+ passed, \d+ skipped in ", gpu_tests) and "failed" not in gpu_tests  # GPU tests skip
    # the regime is on top of what a GPU session reads: the machine, and training's precision there
    assert gpu_tests.startswith("torch ") and "training precision: {'frontend': 'fp32 (TF32 off)'" in gpu_tests
    assert (
        "Precision, as in training: cpu: front end fp32 (TF32 off), body fp32"
        in (out / "bench" / "table12.md").read_text()
    )
    bench = json.loads((out / "bench" / "bench.json").read_text())
    assert bench["status"] == "completed" and len(bench["frontends"]) == 22
    steps = {(t["frontend"], t["compile"] or "-") for t in bench["training"]}
    assert ("dtcwt_fast", "reduce-overhead") in steps and ("dtcwt", "-") in steps
    autotune = json.loads((out / "autotune" / "bench.json").read_text())
    assert autotune["status"] == "completed" and {t["compile"] for t in autotune["training"]} == {False, "default"}
    loop = (out / "loop.txt").read_text()
    assert loop.count("lightning / bare:") == 2 and "model tiny" in loop and "model hybrid" in loop
    ways = (out / "morlet-ways.txt").read_text()
    assert "| 6 | products |" in ways and "| 6 | fft |" in ways and "Traceback" not in ways
    assert "| 2x3x32x32 | 6 |" in ways  # the forward's split, after the averaging ways
    run = (out / "run120.txt").read_text()
    assert "on synthetic_cifar: test acc" in run and "whole command, Python start to exit" in run
    assert "precision: {" in run and "'frontend': 'fp32 (TF32 off)'" in run and "'body': 'fp32'" in run
    metrics = json.loads((out / "metrics120.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 1


def test_an_unknown_part_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        ["bash", "scripts/gpu_measure.sh", "bench,bnech"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, OUT=str(tmp_path)),
        timeout=60,
    )
    assert (
        proc.returncode == 2
        and proc.stderr.strip()
        == "gpu_measure.sh: error: unknown part 'bnech'; parts: all, gpu-tests, bench, autotune, loop, morlet-ways, "
        "run120"
    )
    assert list(tmp_path.iterdir()) == []  # nothing ran
