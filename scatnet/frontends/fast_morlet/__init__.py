"""scatnet's own Morlet scattering (``frontend.impl=fast``, the Morlet presets' default): kymatio 0.3.0's
2-D scattering (J=2, order 2; the reference, ``frontends/morlet.py`` with ``impl=kymatio``), computed in a
few batched kernels and tested equal to it.

What runs where: ``scattering.py`` holds the module, the transform a chunk of maps at a time and its
hand-written backward; ``ops.py`` the pieces (filtering with periodisation, modulus, low-pass) and their
adjoints; ``native.py`` and ``kernels.c`` the CPU's fused loops. In training the front end runs forward only;
the backward serves the benchmark's gradient column and networks that learn before the scattering.
``scatnet/frontends/morlet_reference.py`` is the same transform with none of this: read it first.

Each optimisation, and when it runs (the rest of the time the plain batched PyTorch step runs instead):

- one FFT per map, every angle of a scale filtered and periodised in one pass, one batched inverse FFT and
  modulus per scale: always.
- the low-pass averaging, up to 64 x 64 images: a matrix product, the whole matrix in float64
  (``lowpass_operator``), its separable factors in fp32 (``separable_lowpass``), on every device. Over 64 x 64:
  in float64 and on a GPU the FFT way (``fft_lowpass``); in fp32 on a CPU a 17-tap band for the full-resolution
  maps where the fused loops run (``lowpass_band``), the FFT way where the maps' spectra are at hand (the
  first order's), else the separable factors.
- the fused loops (filtering, modulus and their adjoints in one pass; two real first-order maps sharing one
  complex FFT): a CPU, eager (not under ``torch.compile``), the loops built by the system's C compiler at
  first use (without one: a warning line, and the PyTorch steps).
- the wavelets' FFTs inside those loops (a map at a time in cache): as above, where PyTorch links MKL
  (``native.fft_linked()``) and a call has at least one map per thread.
- the chunk of maps transformed at once (``FastMorletScattering.chunking``): 1 GiB of spectra on a GPU; on a
  CPU 36 MB with the loops' own FFTs, 12 MB where freed memory is kept (``scatnet.memory``), else 6 MB.
- the hand-written backward from the input alone (``scattering2d_backward``): whenever a gradient w.r.t. the
  input is asked for, on every device.
"""

from scatnet.frontends.fast_morlet.scattering import FastMorletScattering

__all__ = ["FastMorletScattering"]
