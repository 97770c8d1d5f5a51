"""Where does the fast Morlet's forward time go, and how much of it could any exact method skip?

The forward is split by the PyTorch profiler into its FFTs (MKL or cuFFT), its matrix products (the
averaging) and the rest (filtering, modulus, copies: the passes over memory), beside kymatio's forward and a
fifth of it (the issue's 5x line). FFTs and products are what an exact transform cannot avoid (the same
transforms and GEMMs, at the library's rate), so where they alone approach a fifth of kymatio's time, 5x is
out of reach on that machine whatever the rest costs. Medians of the forwards without the profiler; the
split is the profiler's per-call time (its own overhead included), over the same repeats. On a CPU whose
PyTorch links MKL the fused loops run the wavelets' FFTs themselves, where the profiler cannot see them, so
the split is taken with every FFT a torch.fft call ("steps apart", ``ffts_apart``); "fast ms" is the forward
as it runs.

    python scripts/morlet_time_split.py                     # CPU: 128x3x32x32 and 4x3x256x256, L=8 and 6
    python scripts/morlet_time_split.py --device cuda       # 128 images at both sizes
    python scripts/morlet_time_split.py --sizes 32 --batch 2 --repeats 1 --angles 8   # a quick check
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform

os.environ.setdefault("KINETO_LOG_LEVEL", "99")  # before torch loads: no profiler start/stop lines in the table
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from scatnet.bench.measure import median_ms  # noqa: E402
from scatnet.frontends.fast_morlet import native  # noqa: E402
from scatnet.frontends.morlet import MorletScattering  # noqa: E402

FFT_OPS = ("aten::_fft_c2c", "aten::_fft_r2c", "aten::_fft_c2r")
PRODUCT_OPS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm")


@contextlib.contextmanager
def ffts_apart():
    """Every FFT of the fast Morlet a torch.fft call, none run inside the fused CPU loops."""
    fuses = native.fuses_fft
    native.fuses_fft = lambda *tensors, tasks: False
    try:
        yield
    finally:
        native.fuses_fft = fuses


def split_ms(fn, device: torch.device, repeats: int) -> dict[str, float]:
    """Milliseconds per forward in FFTs and in products (device time on a GPU, op time on a CPU), and the
    FFT calls per forward."""
    fn()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(repeats):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    split = {"fft": 0.0, "products": 0.0, "fft_calls": 0}
    for event in prof.key_averages():
        us = event.self_device_time_total if device.type == "cuda" else event.self_cpu_time_total
        if event.key in FFT_OPS:
            split["fft"] += us / 1e3 / repeats
            split["fft_calls"] += event.count // repeats
        elif event.key in PRODUCT_OPS:
            split["products"] += us / 1e3 / repeats
    return split


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument(
        "--batch", type=int, default=None, help="images (default: 128, but 4 at 256 x 256 on a CPU, as scatnet-bench)"
    )
    parser.add_argument("--angles", type=int, nargs="+", default=[8, 6], choices=[6, 8])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(
        f"fast Morlet forward split, {name}, torch {torch.__version__}, {torch.get_num_threads()} threads, fp32, "
        f"median of {args.repeats}"
    )
    print(
        "| images | L | kymatio ms | 1/5 of it | fast ms | steps apart ms | FFTs ms (calls) | products ms | "
        "rest ms | FFTs + products / (1/5) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for side in args.sizes:
        batch = args.batch or (4 if side >= 256 and device.type == "cpu" else 128)
        x = torch.randn(batch, 3, side, side, device=device)
        for angles in args.angles:
            kymatio = MorletScattering(angles, side, impl="kymatio").to(device)
            fast = MorletScattering(angles, side, impl="fast").to(device)
            with torch.no_grad():
                ref_ms = median_ms(lambda: kymatio(x), device, args.repeats)
                fast_ms = median_ms(lambda: fast(x), device, args.repeats)
                with ffts_apart():
                    apart_ms = median_ms(lambda: fast(x), device, args.repeats)
                    split = split_ms(lambda: fast(x), device, args.repeats)
            row = {
                "images": f"{batch}x3x{side}x{side}",
                "L": angles,
                "kymatio_ms": ref_ms,
                "fast_ms": fast_ms,
                "apart_ms": apart_ms,
                **split,
                "rest": apart_ms - split["fft"] - split["products"],
            }
            rows.append(row)
            fifth = ref_ms / 5
            print(
                f"| {row['images']} | {angles} | {ref_ms:.1f} | {fifth:.1f} | {fast_ms:.1f} | {apart_ms:.1f} | "
                f"{split['fft']:.1f} ({split['fft_calls']}) | {split['products']:.1f} | {row['rest']:.1f} | "
                f"{(split['fft'] + split['products']) / fifth:.2f} |",
                flush=True,
            )
    return rows


if __name__ == "__main__":
    main()
