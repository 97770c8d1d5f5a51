"""How should fp32 average the fast Morlet's maps over 64 x 64: separable products, the band or the FFT way?

scatnet's fast Morlet takes the band at full resolution and the separable products at half on a CPU
(measured faster there), and the FFT way on a GPU (predicted: with TF32 off the products' flops cost more
than the FFT way's passes over memory; the band is a CPU loop; docs/PERFORMANCE.md). This times the whole
transform each way side by side in one process, forward and forward + backward (the gradient w.r.t. the
input), medians, after checking that they agree.

    python scripts/morlet_lowpass_ways.py --device cuda            # 128x3x256x256, L=8 and 6
    python scripts/morlet_lowpass_ways.py --batch 1 --size 128 --repeats 1   # a quick check on a CPU
"""

from __future__ import annotations

import argparse
import platform

import torch

from scatnet.bench.measure import median_ms
from scatnet.frontends.morlet import MorletScattering

WAYS = ("products", "band", "fft")  # "band": the band where phi has one, the products elsewhere (a CPU loop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="images (default: 128 on a GPU, 4 on a CPU)")
    parser.add_argument("--size", type=int, default=256, help="image side, 128 or more (default 256)")
    parser.add_argument("--angles", type=int, nargs="+", default=[8, 6], choices=[6, 8])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    if args.size < 128 or args.size % 4:
        # smaller images are averaged by the whole matrix (or its factors), neither way compared here
        parser.error(f"--size {args.size}: the ways differ for sides of 128 or more, divisible by 4")
    device = torch.device(args.device)
    batch = args.batch or (128 if device.type == "cuda" else 4)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(
        f"fast Morlet averaging ways, {name}, torch {torch.__version__}, fp32, {batch}x3x{args.size}x{args.size}, "
        f"median of {args.repeats}"
    )
    print("| L | way | fwd ms | fwd+bwd ms | max |diff| vs products |")
    print("|---|---|---|---|---|")
    x = torch.randn(batch, 3, args.size, args.size, device=device)
    for angles in args.angles:
        module = MorletScattering(angles, args.size, impl="fast").to(device)
        xg = x.clone().requires_grad_(True)
        outputs = {}
        ways = WAYS if device.type == "cpu" else tuple(w for w in WAYS if w != "band")
        for way in ways:
            module.scattering.lowpass_way = way
            with torch.no_grad():
                outputs[way] = module(x)
        for way in ways:
            module.scattering.lowpass_way = way
            with torch.no_grad():
                forward = median_ms(lambda: module(x), device, args.repeats)
            both = median_ms(lambda: module(xg).sum().backward(), device, args.repeats)
            diff = float((outputs[way] - outputs["products"]).abs().max())
            print(f"| {angles} | {way} | {forward:.2f} | {both:.2f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
