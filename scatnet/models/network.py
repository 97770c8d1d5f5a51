"""What training asks of a network, in one base class: a front end, then a body (an ``nn.Sequential`` ending in
a flat feature vector), then a linear classifier ``fc``. A network builds its body and classifier and calls
``Network.__init__`` with them; the rest is here, the same for every network:

- ``features`` runs the front end in true fp32, with autograd only when it learns (``frontend_grad``);
- ``configure_speed`` (channels_last, bf16 autocast, torch.compile) applies to the body;
- ``capture_cuda_graph`` records the training forward and backward as one CUDA-graph replay (fast.cuda_graph);
- ``reset_parameters`` is the thesis code's initialisation, then the front end's own.

HybridNet (hybrid.py, the thesis' network) and PoolingCNN (pooling_cnn.py) are two such networks; a new one is
a class taking ``frontend``, ``num_classes`` and ``in_channels`` (what training passes) and its own options.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from scatnet.errors import ConfigError
from scatnet.frontends.base import Frontend
from scatnet.precision import frontend_fp32


def check_graph_capturable(frontend: Frontend) -> None:
    """fast.cuda_graph needs a front end a CUDA graph can record: one whose forward never waits on or copies
    from the host (``Frontend.compilable``; the front end says why not and what to use instead)."""
    if not getattr(frontend, "compilable", False):
        name = getattr(frontend, "name", type(frontend).__name__)
        raise ConfigError(
            f"fast.cuda_graph=true needs a front end whose forward never waits on or copies from "
            f"the host; frontend={name} is not one ({frontend.not_compilable_because()})"
        )


def frontend_grad_option(frontend: Frontend, frontend_grad: bool | None) -> bool:
    """model.frontend_grad: whether the front end runs with autograd. null (the default) follows the front end:
    true exactly when it has weights to train (frontend=learned, a Learnable ScatterNet's stages); false for a
    front end that learns is refused, as its weights would never train."""
    learns = bool(getattr(frontend, "learnable", False))
    if frontend_grad is None:
        return learns
    if not frontend_grad and learns:
        name = getattr(frontend, "name", type(frontend).__name__)
        what = getattr(frontend, "learned_stages", lambda: [])()
        stages = f" ({', '.join(what)})" if what else ""
        raise ConfigError(
            f"model.frontend_grad=false, but frontend={name} has learned stages{stages}: without "
            "autograd through the front end they would never train; leave model.frontend_grad "
            "null (it follows the front end) or set it true"
        )
    return bool(frontend_grad)


class Network(nn.Module):
    """A front end, a body and a classifier (the module docstring says what training calls)."""

    def __init__(self, frontend: Frontend, body: nn.Sequential, fc: nn.Module, frontend_grad: bool | None = None):
        super().__init__()
        self.frontend = frontend
        self.frontend_grad = frontend_grad_option(frontend, frontend_grad)
        self.body = body
        self.fc = fc
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight, gain=math.sqrt(2))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if hasattr(self.frontend, "reset_parameters"):  # a front end's own initialisation (its paper's)
            self.frontend.reset_parameters()

    def configure_speed(self, channels_last: bool = False, bf16: bool = False, compile: bool | str = False) -> None:
        """channels_last + bf16 autocast apply to the conv body only (cuDNN tensor-core kernels); the front
        end always runs in fp32 (its numerics are the study's subject). ``compile`` compiles the body, and the
        front end too when it is compilable (scatnet's fast DTCWT pair, kymatio's Morlet). ``compile`` may name
        a torch.compile mode: "reduce-overhead" / "max-autotune" also capture the compiled parts in CUDA graphs
        on a GPU."""
        self.channels_last, self.bf16 = channels_last, bf16
        if channels_last:
            self.body.to(memory_format=torch.channels_last)
        if compile:
            # In place (nn.Module.compile), not ``self.body = torch.compile(self.body)``: the wrapper would
            # prefix every state_dict key with "_orig_mod.", and a run killed under one fast.compile setting
            # could not resume (or be evaluated) under another.
            mode = compile if isinstance(compile, str) else None
            self.body.compile(mode=mode)
            if getattr(self.frontend, "compilable", False):
                self.frontend.compile(mode=mode)

    channels_last = False
    bf16 = False
    graphed: tuple | None = None  # (graphed forward, input shape) after capture_cuda_graph

    def capture_cuda_graph(self, sample: torch.Tensor) -> None:
        """From now on, a training-mode forward on inputs shaped like ``sample`` (and its backward) is one
        CUDA-graph replay each instead of ~100 kernel launches (``torch.cuda.make_graphed_callables``: the
        parameters stay the module's own, so the optimizer, the loop and the checkpoints see nothing new).
        Other shapes (an epoch's last, smaller batch) and eval mode run the ordinary forward. The capture's
        three warm-up passes update the BatchNorm running statistics from ``sample``, as three steps would."""
        check_graph_capturable(self.frontend)
        if sample.device.type != "cuda":
            raise ConfigError(
                f"fast.cuda_graph needs a CUDA device; the batch is on {sample.device.type}. "
                "Leave fast.cuda_graph false off the GPU"
            )
        torch.cuda.make_graphed_callables(self, (sample.detach().clone(),))
        # make_graphed_callables installs its forward as an instance attribute; keep it here instead, so
        # forward() below decides per call (by shape) between the graph and the ordinary path
        self.graphed = (self.__dict__.pop("forward"), tuple(sample.shape))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        with frontend_fp32():  # true fp32 whatever the body may use (scatnet/precision.py)
            if not self.frontend_grad:
                with torch.no_grad():
                    return self.frontend(x)
            if not (self.bf16 and getattr(self.frontend, "learnable", False)):
                return self.frontend(x)
            # a learning front end's own layers follow the body's bf16 autocast; its scattering stays fp32
            # (LearnableScatterNet's orders turn autocast off around each ScatLayer)
            with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, cache_enabled=False):
                return self.frontend(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.graphed is not None and self.training and tuple(x.shape) == self.graphed[1]:
            return self.graphed[0](x)
        z = self.features(x)
        if self.channels_last:
            z = z.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.fc(self.body(z))
        # no autocast weight cache: each weight is cast once per forward anyway, and CUDA-graph capture
        # (capture_cuda_graph) does not support the cache
        with torch.autocast(device_type=z.device.type, dtype=torch.bfloat16, cache_enabled=False):
            h = self.body(z)
        return self.fc(h.float())
