"""When does filtering through the FFT beat direct convolution for scatnet's DTCWT filters?

One ScatLayer's linear stage (all 13 outputs: lowpass and 6 complex bandpasses, stride 2) computed three
ways on the same input: `direct` (one 2-D conv with the fused (K+1) x (K+1) kernels), `separable` (row pass as
a banded GEMM + a (K+1) x 2 conv: what `auto` takes for the long filters) and `fft` (rfft2 of the padded input
times the kernels' spectra, irfft2, the valid part at stride 2). Each is checked equal to `direct` before it is
timed (medians, the three side by side in one process), for near_sym_a (5/7 taps: 8 x 8 fused kernels) and
near_sym_b (13/19 taps: 20 x 20) at 32x32, 64x64 and 256x256.

    python scripts/fft_vs_conv.py                 # CPU; --device cuda on a GPU
    python scripts/fft_vs_conv.py --sizes 16 --repeats 1    # a quick check
"""

from __future__ import annotations

import argparse
import platform

import torch

from scatnet.bench.measure import median_ms
from scatnet.frontends.fast_dtcwt import FastScatLayerPair
from scatnet.frontends.fast_dtcwt.ops import pad2d, pad_to_even, scat_linear

BATCH_MAPS = {16: 384, 32: 384, 64: 96, 256: 12}  # images x colours: 128x3 at CIFAR size, 4x3 at the thesis'


def fft_linear(x: torch.Tensor, direct_w: torch.Tensor, mode: str) -> torch.Tensor:
    """scat_linear with the direct kernels, as a product of spectra: (B, C, H, W) -> (B, C, 13, H/2, W/2)."""
    x = pad_to_even(x)
    b, c, h, w = x.shape
    k = direct_w.shape[-1]
    m = (k - 1) // 2
    xp = pad2d(x, m, mode).reshape(b * c, h + 2 * m, w + 2 * m)
    hp, wp = xp.shape[-2:]
    spectra = torch.fft.rfft2(direct_w[:, 0].flip(-2, -1), s=(hp, wp))  # (13, Hp, Wp/2 + 1)
    full = torch.fft.irfft2(torch.fft.rfft2(xp)[:, None] * spectra, s=(hp, wp))  # circular convolution
    z = full[..., k - 1 :: 2, k - 1 :: 2]  # the valid part, stride 2
    return z.reshape(b, c, 13, h // 2, w // 2)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 256])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
        f"torch {torch.__version__}; device {device}; median of {args.repeats}; one ScatLayer's linear stage"
    )
    print("| wavelet | taps | input | direct ms | separable ms | fft ms | fft vs best conv | max |fft - direct| |")
    print("|---|---|---|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for wavelet, taps in (("near_sym_a", "5/7"), ("near_sym_b", "13/19")):
            pair = FastScatLayerPair(wavelet, "symmetric", 1e-2).to(device)
            direct, separable = (pair.direct_w,), pair.separable_weights()
            for size in args.sizes:
                maps = BATCH_MAPS.get(size, 12)
                x = torch.randn(maps // 3, 3, size, size, generator=gen).to(device)
                ref = scat_linear(x, direct, "symmetric")
                err = float((fft_linear(x, pair.direct_w, "symmetric") - ref).abs().max())
                if err > 1e-4 * float(ref.abs().max()):
                    raise SystemExit(f"fft_vs_conv: the FFT path differs from the direct conv by {err:.3g}")
                t = [
                    median_ms(lambda w=w: scat_linear(x, w, "symmetric"), device, args.repeats)
                    for w in (direct, separable)
                ]
                t_fft = median_ms(lambda: fft_linear(x, pair.direct_w, "symmetric"), device, args.repeats)
                print(
                    f"| {wavelet} | {taps} | {maps // 3}x3x{size}x{size} | {t[0]:.2f} | {t[1]:.2f} | {t_fft:.2f} | "
                    f"{min(t) / t_fft:.2f}x | {err:.1e} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
