"""scatnet's own Morlet scattering (``frontend.impl=fast``, the Morlet presets' default): kymatio 0.3.0's
2-D scattering (J=2, order 2; the reference, ``frontends/morlet.py`` with ``impl=kymatio``), computed in a
few batched kernels and tested equal to it.

What runs where: ``scattering.py`` holds the module, the transform a chunk of maps at a time and its
hand-written backward; ``ops.py`` the pieces (filtering with periodisation, modulus, low-pass) and their
adjoints. In training the front end runs forward only; the backward serves the benchmark's gradient column
and networks that learn before the scattering.
"""

from scatnet.frontends.fast_morlet.scattering import FastMorletScattering

__all__ = ["FastMorletScattering"]
