"""The Learnable ScatterNet (Cotter & Kingsbury, "A Learnable ScatterNet: Locally Invariant Convolutional Layers",
ICIP 2019, arXiv 1903.03137): the DTCWT ScatterNet split into its orders, each one ScatLayer, with learned layers
allowed before and between them. The front end is a list of stages, each a one-key mapping:

    {conv: 16}              a learned 3x3 convolution (no bias) + BatchNorm + ReLU to 16 channels
    {scat: {}}              one scattering order: a ScatLayer (C -> 7C channels at H/2), then BatchNorm + ReLU
    {scat: {mix: 112}}      the "locally invariant layer": the ScatLayer, a learned 1x1 convolution 7C -> 112
                            with bias and a ReLU (the paper's mixing), then BatchNorm + ReLU
    {scat: {norm: false}}   without the BatchNorm + ReLU after it

ScatNets A-D of the paper's Table 3 are four such lists (scatnet/configs/frontend/learnable_{a,b,c,d}.yaml). Each
ScatLayer is scatnet's FastScatLayer (``impl=fast``: its backward recomputes from the saved input alone) or
pytorch_wavelets' own (``impl=reference``). The scattering always computes in fp32, with autocast off, whatever
the learned stages around it use (bf16 autocast of the network: Network.features).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from scatnet.errors import ConfigError, check_choice
from scatnet.frontends.base import Frontend
from scatnet.frontends.dtcwt import REFERENCE_HOST_COPIES
from scatnet.frontends.options import DTCWT_IMPLS, check_dtcwt_options
from scatnet.layers import conv_bn_relu


def scat_layer(wavelet: str, padding: str, magbias: float, impl: str, strategy: str) -> nn.Module:
    """One ScatLayer (one order): scatnet's, or pytorch_wavelets' (the reference)."""
    if impl == "fast":
        from scatnet.frontends.fast_dtcwt import FastScatLayer

        return FastScatLayer(wavelet, padding, magbias, strategy)
    from pytorch_wavelets.scatternet import ScatLayer  # heavy import (pkg_resources), done lazily

    return ScatLayer(biort=wavelet, mode=padding, magbias=magbias)


class ScatterOrder(nn.Module):
    """One order: ScatLayer -> (learned 1x1 mixing with bias) -> (BatchNorm) -> ReLU, as the paper's code
    (scatnet_learn, experiments/scat_exps.py): no ReLU between the mixing and its BatchNorm. Without either
    learned part the scattering passes as it is."""

    def __init__(self, scat: nn.Module, in_channels: int, mix: int | None = None, norm: bool = True):
        super().__init__()
        self.scat = scat
        channels = 7 * in_channels
        self.mix = nn.Conv2d(channels, mix, 1) if mix else None
        self.out_channels = mix or channels
        self.norm = nn.BatchNorm2d(self.out_channels) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # fp32 whatever the learned stages compute in: the scattering's numerics are the study's subject
        if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                z = self.scat(x.float())
        else:
            z = self.scat(x)
        if self.mix is None and self.norm is None:
            return z
        z = z if self.mix is None else self.mix(z)
        z = z if self.norm is None else self.norm(z)
        return torch.relu(z)


def _positive_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}={value!r} is not valid; give a number of channels >= 1")
    return value


def build_stages(stages: list, in_channels: int, make_scat) -> tuple[list[nn.Module], int]:
    """The modules of a stage list, and the channels out. ``make_scat()``: a new ScatLayer."""
    if not isinstance(stages, (list, tuple)) or not stages:
        raise ConfigError(
            f"frontend.stages={stages!r} is not a list of stages; write e.g. "
            "[{conv: 16}, {scat: {mix: 112}}, {scat: {mix: 784}}]"
        )
    modules, channels = [], in_channels
    for n, stage in enumerate(stages):
        if not hasattr(stage, "items") or len(stage) != 1:
            raise ConfigError(
                f"frontend.stages[{n}]={stage!r} is not a stage; write each as {{conv: channels}} "
                "or {scat: {mix: channels or null, norm: true or false}}"
            )
        ((kind, options),) = stage.items()
        if kind == "conv":
            out = _positive_int(f"frontend.stages[{n}].conv", options)
            modules.append(nn.Sequential(*conv_bn_relu(channels, out)))  # the body's conv block
            channels = out
        elif kind == "scat":
            options = dict(options or {})
            unknown = set(options) - {"mix", "norm"}
            if unknown:
                raise ConfigError(
                    f"frontend.stages[{n}].scat has unknown option(s) {sorted(unknown)}; "
                    "a scattering stage takes mix (channels or null) and norm (true or false)"
                )
            mix = options.get("mix")
            if mix is not None:
                _positive_int(f"frontend.stages[{n}].scat.mix", mix)
            order = ScatterOrder(make_scat(), channels, mix, bool(options.get("norm", True)))
            modules.append(order)
            channels = order.out_channels
        else:
            raise ConfigError(f"frontend.stages[{n}] is a {kind!r} stage; choose conv or scat")
    if not any(isinstance(m, ScatterOrder) for m in modules):
        raise ConfigError(
            "frontend.stages has no scat stage; a Learnable ScatterNet needs at least one "
            "scattering order (use frontend=learned for a front end without one)"
        )
    return modules, channels


class LearnableScatterNet(Frontend):
    """Stages of learned layers and single-order DTCWT ScatLayers; (B, C, H, W) -> (B, C', H / 2^orders,
    W / 2^orders). ``mix_gain``: the gain of the mixing weights' xavier-uniform initialisation (1.5 in the
    paper's code; its convolutions take the network's gain, sqrt 2)."""

    def __init__(
        self,
        stages: list,
        wavelet: str = "near_sym_a",
        padding: str = "symmetric",
        magbias: float = 1e-2,
        impl: str = "fast",
        strategy: str = "auto",
        mix_gain: float = 1.5,
        in_channels: int = 3,
        name: str = "learnable",
    ):
        super().__init__()
        check_dtcwt_options(wavelet, padding, magbias)
        check_choice("frontend.impl", impl, DTCWT_IMPLS)
        self.name, self.wavelet, self.padding, self.magbias, self.impl = name, wavelet, padding, float(magbias), impl
        self.in_channels, self.mix_gain = in_channels, float(mix_gain)
        modules, self.channels = build_stages(
            list(stages), in_channels, lambda: scat_layer(wavelet, padding, self.magbias, impl, strategy)
        )
        self.stages = nn.Sequential(*modules)
        orders = [m for m in modules if isinstance(m, ScatterOrder)]
        self.downsample = 2 ** len(orders)
        self.compilable = impl == "fast"
        # anything with weights (a conv, a mixing, a BatchNorm) trains, so the front end needs autograd
        self.learnable = any(p.requires_grad for p in self.parameters())
        # the last stage ends in BatchNorm + ReLU: the network adds no BatchNorm of its own after it
        last = modules[-1]
        self.normalises_output = last.norm is not None if isinstance(last, ScatterOrder) else True
        self.reset_parameters()

    def learned_stages(self) -> list[str]:
        """What trains, in words (for messages): e.g. ['conv', 'mix', 'norm']."""
        kinds = []
        for m in self.stages:
            if isinstance(m, ScatterOrder):
                kinds += [k for k in ("mix", "norm") if getattr(m, k) is not None]
            else:
                kinds.append("conv")
        return list(dict.fromkeys(kinds))

    def reset_parameters(self) -> None:
        """The paper code's initialisation: xavier-uniform mixing weights with gain ``mix_gain``, zero biases."""
        for m in self.stages:
            if isinstance(m, ScatterOrder) and m.mix is not None:
                nn.init.xavier_uniform_(m.mix.weight, gain=self.mix_gain)
                nn.init.zeros_(m.mix.bias)

    def out_channels(self, in_channels: int = 3) -> int:
        if in_channels != self.in_channels:
            raise ConfigError(
                f"frontend={self.name} was built for {self.in_channels} input channels, not "
                f"{in_channels}; set frontend.in_channels={in_channels}"
            )
        return self.channels

    def channel_groups(self, in_channels: int = 3) -> dict[str, list[int]]:
        """By what the last stage outputs: an unmixed order's low-pass and its six orientations' magnitudes
        (channel k * C + c, as a ScatLayer stacks them), or the learned mixing's channels."""
        last = self.stages[-1]
        if not isinstance(last, ScatterOrder) or last.mix is not None:
            return {"learned channels": list(range(self.out_channels(in_channels)))}
        c = self.out_channels(in_channels) // 7
        return {"low-pass of the last order": list(range(c)), "the last order's 6 orientations": list(range(c, 7 * c))}

    def not_compilable_because(self) -> str:
        return REFERENCE_HOST_COPIES

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.out_shape(x.shape)
        return self.stages(x)

    def extra_repr(self) -> str:
        return (
            f"wavelet={self.wavelet}, padding={self.padding}, magbias={self.magbias}, impl={self.impl}, "
            f"mix_gain={self.mix_gain}"
        )
