"""What the benchmark measures: every front end scatnet has, each checked against its reference library on the
same input before any timing (a mismatch aborts with a message instead of a number)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from scatnet.errors import ScatnetError
from scatnet.frontends.dtcwt import DTCWTScattering, reference_scat_pair
from scatnet.frontends.fast_dtcwt.dense import DENSE_FORWARD_MAX_SIDE, DENSE_MAX_SIDE
from scatnet.frontends.morlet import MorletScattering
from scatnet.precision import frontend_fp32

DENSE_ROW_SUFFIX = "[scatnet fast, dense]"
# The dense row is a diagnostic (it decides what strategy=auto picks on a GPU): the table says so under it, so
# that its figures at large sizes are not read as the front end's. The sides are auto's own thresholds.
_FWD, _BWD = DENSE_FORWARD_MAX_SIDE, DENSE_MAX_SIDE
DENSE_ROW_NOTE = (
    f"`[scatnet fast]` rows are what training runs (strategy=auto). `{DENSE_ROW_SUFFIX}` forces the "
    "dense GEMM strategy at every size and device, a diagnostic row: auto takes it on CPU for small "
    f"images only (near_sym_a: backward up to {_BWD['short']}x{_BWD['short']}, forward up to "
    f"{_FWD['short']}x{_FWD['short']}; near_sym_b: backward up to {_BWD['long']}x{_BWD['long']}, "
    f"forward up to {_FWD['long']}x{_FWD['long']}) and not yet on a GPU, so elsewhere it can be "
    "slower."
)


class BenchMismatch(ScatnetError):
    pass


@dataclass(frozen=True)
class Case:
    name: str  # row label, in the layout of thesis Table 1.2
    family: str  # kymatio | pytorch_wavelets | scatnet
    frontend: str  # the hybrid's front end name for the training-step rows (None: front-end table only)
    build: Callable[[int], nn.Module]  # image side -> module
    reference: Callable[[int], Callable] | None  # image side -> function computing the library's output
    tolerance: float = 1e-5


def _kymatio_reference(L: int):
    def ref(size: int):
        from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

        s = ScatteringTorch2D(J=2, shape=(size, size), L=L, max_order=2)
        return lambda x: s.to(x.device)(x).flatten(1, 2)

    return ref


def _dtcwt(wavelet, padding, impl, strategy="auto"):
    return lambda size: DTCWTScattering(wavelet, padding, 1e-2, impl=impl, strategy=strategy)


def _pw_reference(wavelet, padding):
    def ref(size: int):
        pair = reference_scat_pair(wavelet, padding, 1e-2)
        return lambda x: pair.to(x.device)(x)

    return ref


DTCWT_SETTINGS = [
    ("DTCWT type A (near_sym_b, symmetric)", "near_sym_b", "symmetric"),
    ("DTCWT type B (near_sym_a, zero)", "near_sym_a", "zero"),
    ("DTCWT thesis default (near_sym_a, symmetric)", "near_sym_a", "symmetric"),
]


def all_cases() -> list[Case]:
    cases = [
        # training-step labels: the preset's name for its default implementation, a suffix for the other
        Case(
            "KyMatIO Morlet L=8",
            "kymatio",
            "morlet8_kymatio",
            lambda s: MorletScattering(8, s, impl="kymatio"),
            _kymatio_reference(8),
        ),
        Case(
            "KyMatIO Morlet L=6",
            "kymatio",
            "morlet6_kymatio",
            lambda s: MorletScattering(6, s, impl="kymatio"),
            _kymatio_reference(6),
        ),
        # scatnet's batched Morlet (frontend.impl=fast, the presets' default), checked against kymatio
        Case(
            "Morlet L=8 [scatnet fast]",
            "scatnet",
            "morlet8",
            lambda s: MorletScattering(8, s, impl="fast"),
            _kymatio_reference(8),
        ),
        Case(
            "Morlet L=6 [scatnet fast]",
            "scatnet",
            "morlet6",
            lambda s: MorletScattering(6, s, impl="fast"),
            _kymatio_reference(6),
        ),
    ]
    for label, w, p in DTCWT_SETTINGS:
        default = p == "symmetric" and w == "near_sym_a"
        cases.append(
            Case(
                f"{label} [pytorch_wavelets]",
                "pytorch_wavelets",
                "dtcwt" if default else None,
                _dtcwt(w, p, "reference"),
                _pw_reference(w, p),
            )
        )
        cases.append(
            Case(
                f"{label} [scatnet fast]",
                "scatnet",
                "dtcwt_fast" if default else None,
                _dtcwt(w, p, "fast"),
                _pw_reference(w, p),
            )
        )
    # the dense strategy on its own for the thesis default (auto takes it on CPU for small images only):
    # the row that decides auto on CUDA
    label, w, p = DTCWT_SETTINGS[2]
    cases.append(
        Case(f"{label} {DENSE_ROW_SUFFIX}", "scatnet", None, _dtcwt(w, p, "fast", "dense"), _pw_reference(w, p))
    )
    return cases


def check_against_reference(case: Case, module: nn.Module, x: torch.Tensor) -> float:
    """Max abs difference between the module and its reference library on ``x``; raises BenchMismatch."""
    if case.reference is None:
        return 0.0
    with torch.no_grad(), frontend_fp32():  # both sides in true fp32, whatever the caller's TF32 flags
        reference = case.reference(x.shape[-1])
        # a forward of each first: the first forward of a process has read up to 2.6e-5 off on CPU, on part
        # of the batch (kymatio against itself at 4x3x256x256: the first filter's maps of the images on the
        # second thread, in 3 of 23 bench runs one day; every later forward agrees to 0), which says nothing
        # of the implementation under test
        module(x), reference(x)
        ours, ref = module(x), reference(x)
    if ours.shape != ref.shape:
        raise BenchMismatch(
            f"{case.name}: output shape {tuple(ours.shape)} differs from the reference "
            f"{tuple(ref.shape)}; no timing reported"
        )
    err = float((ours - ref).abs().max())
    if not err <= case.tolerance:
        raise BenchMismatch(
            f"{case.name}: output differs from its reference library by {err:.3g} "
            f"(> {case.tolerance:g}); no timing reported. Fix the front end before timing it"
        )
    return err


@dataclass(frozen=True)
class StepCase:
    """A training-step row built from a preset (the network as training builds it, front end and body)."""

    frontend: str  # the row's label: the preset's front end, "[pytorch_wavelets]" for the reference
    overrides: tuple[str, ...]  # scatnet-train overrides composing it

    @property
    def name(self) -> str:  # as a Case's: what --only matches and the JSON row records
        return self.frontend


REFERENCE_STEP_SUFFIX = " [pytorch_wavelets]"


def learnable_step_cases() -> list[StepCase]:
    """The Learnable ScatterNet's four networks (experiment=learnable_*: the gradient runs through the front end),
    each on scatnet's ScatLayers and on pytorch_wavelets', side by side."""
    return [
        StepCase(
            f"learnable_{v}" + ("" if impl == "fast" else REFERENCE_STEP_SUFFIX),
            (f"experiment=learnable_{v}_cifar10", f"frontend.impl={impl}"),
        )
        for v in "abcd"
        for impl in ("fast", "reference")
    ]


# The training-step row of each front-end case (its label, Case.frontend): the preset a run names
STEP_PRESETS = {
    "morlet8_kymatio": ("frontend=morlet8", "frontend.impl=kymatio"),
    "morlet6_kymatio": ("frontend=morlet6", "frontend.impl=kymatio"),
    "morlet8": ("frontend=morlet8",),
    "morlet6": ("frontend=morlet6",),
    "dtcwt": ("frontend=dtcwt",),
    "dtcwt_fast": ("frontend=dtcwt_fast",),
}


def step_overrides(case: Case | StepCase) -> tuple[str, ...]:
    return case.overrides if isinstance(case, StepCase) else STEP_PRESETS[case.frontend]


def build_step_net(overrides: tuple[str, ...], width: int, size: int) -> nn.Module:
    """The network a CIFAR-10 run with ``overrides`` trains, as training builds it (build_module), on images of
    side ``size``, with no speed option applied (the bench applies its own)."""
    from scatnet.training.builders import build_module, composed_config

    cfg = composed_config(
        ["data=cifar10", *overrides, f"data.image_size={size}", f"model.width={width}", "trainer=cpu"]
        + ["fast.compile=false", "fast.cuda_graph=false", "fast.channels_last=false", "fast.bf16=false"]
        + ["paths.run_dir=."]  # no run folder: nothing is written
    )
    return build_module(cfg).net
