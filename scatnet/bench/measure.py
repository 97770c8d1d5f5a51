"""Timing and memory measurement.

GPU: CUDA events after warm-up, median of N. CPU: ``time.perf_counter`` (monotonic), median of N, with the
thread count recorded. Memory held for backward: on GPU from the CUDA allocator (allocated after the forward
minus before it, minus the output); on CPU, where no allocator statistics exist, the bytes of the tensors
autograd saves for backward (``torch.autograd.graph.saved_tensors_hooks``), excluding the input, the output
and module buffers: exactly what the forward leaves alive for the backward.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
import torch.nn as nn


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class Timer:
    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"

    def __call__(self, fn: Callable[[], object]) -> float:
        """Seconds taken by ``fn``."""
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def median_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls after ``warmup`` (the scripts' side-by-side
    timings; the bench's own rows keep every repeat)."""
    timer = Timer(device)
    for _ in range(warmup):
        fn()
    return statistics.median(timer(fn) for _ in range(repeats)) * 1e3


def time_forward_backward(module: nn.Module, x: torch.Tensor, repeats: int, warmup: int) -> dict:
    """Median forward and backward (gradient w.r.t. the input) times in ms, each repeat a fresh forward."""
    timer = Timer(x.device)
    fwd, bwd = [], []
    for i in range(warmup + repeats):
        xi = x.detach().requires_grad_(True)
        out = {}
        tf = timer(lambda: out.setdefault("y", module(xi)))
        g = torch.ones_like(out["y"])
        tb = timer(lambda: out["y"].backward(g))
        if i >= warmup:
            fwd.append(tf)
            bwd.append(tb)
    return {
        "fwd_ms": statistics.median(fwd) * 1e3,
        "bwd_ms": statistics.median(bwd) * 1e3,
        "fwd_ms_all": [round(t * 1e3, 4) for t in fwd],
        "bwd_ms_all": [round(t * 1e3, 4) for t in bwd],
    }


def memory_held_for_backward(module: nn.Module, x: torch.Tensor) -> dict:
    xi = x.detach().requires_grad_(True)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(x.device)
        y = module(xi)
        torch.cuda.synchronize()
        held = torch.cuda.memory_allocated(x.device) - before - _nbytes(y)
        del y
        return {"mem_bytes": int(held), "mem_method": "CUDA allocator: allocated after forward - before - output"}
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = module(xi)
    skip = (
        {xi.data_ptr(), y.data_ptr()}
        | {b.data_ptr() for b in module.buffers()}
        | {p.data_ptr() for p in module.parameters()}
    )
    seen, held = set(), 0
    for t in saved:
        key = (t.data_ptr(), t.numel())
        if t.data_ptr() in skip or key in seen:
            continue
        seen.add(key)
        held += _nbytes(t)
    return {
        "mem_bytes": int(held),
        "mem_method": "tensors saved for backward (saved_tensors_hooks), excluding input, output and buffers",
    }


STEPS_PER_TIMED_BLOCK = 10


def time_training_step(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    repeats: int,
    warmup: int,
    bf16: bool,
    channels_last: bool,
    compile: bool | str = False,
    cuda_graph: bool = False,
) -> dict:
    """One SGD step of a hybrid network (the front end with autograd only when it learns, as in training; the
    trainer's fused SGD): images/s (on a GPU from blocks of back-to-back steps) and the front end's share of the
    step (its forward, plus its backward when it learns: timed on their own after each step). ``compile``:
    as HybridNet.configure_speed; ``cuda_graph``: HybridNet.capture_cuda_graph (as fast.cuda_graph does in
    training). Their warm-up (compilation, CUDA-graph recording) is kept out of the timed repeats."""
    net.configure_speed(channels_last=channels_last, bf16=bf16, compile=compile)
    if cuda_graph:
        net.train().capture_cuda_graph(x)
    if compile:
        warmup = max(warmup, 3)  # compile on the 1st call; reduce-overhead records its CUDA graphs on the 2nd/3rd
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.85, weight_decay=1e-4, fused=True)
    timer = Timer(x.device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x).float(), y)
        loss.backward()
        opt.step()

    def frontend() -> tuple[float, float]:
        """The front end's forward as the step runs it (with autograd when it learns), and then its backward."""
        out = {}
        tf = timer(lambda: out.setdefault("z", net.features(x)))
        if not out["z"].requires_grad:
            return tf, 0.0
        return tf, timer(lambda: out["z"].backward(torch.ones_like(out["z"])))

    # Throughput, not latency: on a GPU each timed repeat is a block of back-to-back steps, so the host
    # queues step k+1 while the GPU runs step k, as in training (a sync after every step would add the
    # launch latency the training loop hides).
    block = STEPS_PER_TIMED_BLOCK if x.device.type == "cuda" else 1

    def steps_block():
        for _ in range(block):
            step()

    steps, fronts, backs = [], [], []
    for i in range(warmup + repeats):
        ts = timer(steps_block) / block
        tf, tb = frontend()
        if i >= warmup:
            steps.append(ts)
            fronts.append(tf)
            backs.append(tb)
    s, f, b = statistics.median(steps), statistics.median(fronts), statistics.median(backs)
    return {
        "step_ms": s * 1e3,
        "frontend_ms": (f + b) * 1e3,
        "frontend_fwd_ms": f * 1e3,
        "frontend_bwd_ms": b * 1e3,
        "images_per_second": x.shape[0] / s,
        "frontend_share": (f + b) / s,
        "bf16": bf16,
        "channels_last": channels_last,
        "compile": compile,
        "cuda_graph": cuda_graph,
    }
