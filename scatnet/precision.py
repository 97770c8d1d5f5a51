"""The one precision policy of training, evaluation and the benchmark.

The scattering front ends compute in true fp32: their numerics are the study's subject, and TF32's 10-bit
mantissa (~1e-3 relative) would swamp a magnitude bias of 1e-3. torch's default lets cuDNN run fp32
convolutions in TF32 while fp32 matmuls and FFTs stay fp32, which would make the DTCWT front ends (convs and
a matmul) less exact than kymatio's Morlet (FFTs): an unfair comparison. So every run turns TF32 off; the
conv body follows ``fast.bf16`` (bf16 autocast) and may use TF32 only when ``fast.tf32=true`` asks for it,
and then the front end's forward still runs with TF32 off (``frontend_fp32``).

Only the legacy flags (``allow_tf32``) are used: torch raises "a mix of the legacy and new APIs" when the new
``fp32_precision`` settings and a legacy read (``cudnn.flags()``, Lightning) meet in one process.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Iterator

import torch

from scatnet.errors import check_choice


@dataclass(frozen=True)
class Precision:
    """What a run computes in. The defaults are training's on a CPU; ``for_device`` gives a GPU's."""

    bf16: bool = False  # the conv body under bf16 autocast (fast.bf16)
    body_tf32: bool = False  # the body's fp32 convs and matmuls may use TF32 (fast.tf32)
    cudnn_benchmark: bool = True  # cuDNN picks the fastest algorithm per shape (trainer.benchmark)

    @classmethod
    def for_device(cls, cuda: bool, bf16="auto", tf32=False, cudnn_benchmark: bool = True) -> "Precision":
        """``bf16`` "auto": on for CUDA, off on the CPU (the fast.bf16 default)."""
        check_choice("fast.bf16", bf16, ("auto", None, True, False))
        check_choice("fast.tf32", tf32, (True, False))
        return cls(
            bf16=cuda if bf16 in ("auto", None) else bool(bf16),
            body_tf32=bool(tf32),
            cudnn_benchmark=bool(cudnn_benchmark),
        )

    def record(self) -> dict:
        """For metrics.json and bench.json: the policy and the process-wide flags it sets."""
        return {
            "frontend": "fp32 (TF32 off)",
            "body": "bf16 autocast" if self.bf16 else ("fp32, TF32 allowed" if self.body_tf32 else "fp32"),
            **asdict(self),
            "cudnn_allow_tf32": self.body_tf32,
            "matmul_allow_tf32": self.body_tf32,
        }


def tf32_flags() -> dict:
    return {
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
    }


def _set_tf32(allow: bool) -> None:
    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = allow


@contextlib.contextmanager
def precision_policy(policy: Precision) -> Iterator[Precision]:
    """Set the process-wide flags of ``policy`` for the duration (a run, a benchmark); restore them after."""
    saved = tf32_flags(), torch.backends.cudnn.benchmark
    _set_tf32(policy.body_tf32)
    torch.backends.cudnn.benchmark = policy.cudnn_benchmark
    try:
        yield policy
    finally:
        torch.backends.cudnn.allow_tf32 = saved[0]["cudnn_allow_tf32"]
        torch.backends.cuda.matmul.allow_tf32 = saved[0]["matmul_allow_tf32"]
        torch.backends.cudnn.benchmark = saved[1]


@contextlib.contextmanager
def frontend_fp32() -> Iterator[None]:
    """TF32 off while a scattering front end computes, whatever the body is allowed (two flag reads when it is
    already off, as by default). The flags are read when a kernel is chosen, so this also holds for a forward
    recorded into a CUDA graph or compiled (inductor reads them at compile time, i.e. inside this block)."""
    flags = tf32_flags()
    if not any(flags.values()):
        yield
        return
    _set_tf32(False)
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = flags["cudnn_allow_tf32"]
        torch.backends.cuda.matmul.allow_tf32 = flags["matmul_allow_tf32"]
