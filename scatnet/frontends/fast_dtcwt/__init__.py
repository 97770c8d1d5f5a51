"""scatnet's own DTCWT ScatLayer pair (``frontend.impl=fast``): the same mathematics as pytorch_wavelets'
two stacked ScatLayers (the reference, ``frontends/dtcwt.py``), tested equal to it, faster, with no host
syncs or copies (so torch.compile and CUDA graphs capture it), and a backward that holds only the input.

What runs where:
- in training, the front end runs forward only (nothing before it learns): ``pair.py`` picks the strategy,
  ``ops.py`` computes it (padding, one or two convolutions per layer, the magnitude), with the taps of
  ``filters.py`` and, for the separable strategy, the row pass of ``rows.py``. On a CPU at small sizes the
  forward is the ``dense`` strategy of ``dense.py`` (four GEMMs).
- the backward (``backward.py``, and ``dense.py``'s transposed products on a CPU) runs when a gradient w.r.t.
  the input is asked for: Table 1.2's backward column in ``scatnet-bench``, and networks that learn before
  the scattering.
"""

from scatnet.frontends.fast_dtcwt.layer import FastScatLayer
from scatnet.frontends.fast_dtcwt.pair import FastScatLayerPair

__all__ = ["FastScatLayer", "FastScatLayerPair"]
