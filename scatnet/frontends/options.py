"""The choices of each front end's options, and the thesis' grid over them: defined here once and imported by
the front ends, the report, the benchmark and the tests (tests/test_configs.py checks the sweep configs
against them)."""

from __future__ import annotations

from scatnet.errors import ConfigError, check_choice

# DTCWT: the biorthogonal filters of the first level, the border handling, the magnitude's smoothing bias b
# in sqrt(x^2 + y^2 + b^2) - b. Table 1.4 / Figure 1.2 is the grid WAVELETS x PADDINGS x MAGBIASES.
WAVELETS = ("near_sym_a", "near_sym_b", "near_sym_b_bp")
PADDINGS = ("symmetric", "zero")
MAGBIASES = (0.0, 1e-3, 1e-2, 1e-1)
THESIS_DTCWT = {"wavelet": "near_sym_a", "padding": "symmetric", "magbias": 1e-2}  # the setting Table 1.3 uses
DTCWT_IMPLS = ("reference", "fast")  # pytorch_wavelets' ScatLayers | scatnet's pair (fast_dtcwt/)
STRATEGIES = ("auto", "direct", "separable", "dense")  # how the fast pair convolves (fast_dtcwt/)

# Morlet (kymatio's Scattering2D, J=2): the number of orientations, and who computes it.
ORIENTATIONS = (6, 8)
MORLET_IMPLS = ("fast", "kymatio")  # scatnet's batched version (fast_morlet/) | kymatio itself

# The options that describe a front end's setting, in the order shown: what a run's summary line and the
# report's tables name (beside the dataset and the front end's name).
SETTING_KEYS = ("wavelet", "padding", "magbias", "L", "impl")
# The implementation a run used when its config predates the ``impl`` option.
DEFAULT_IMPL = {"dtcwt": "reference", "morlet8": "kymatio", "morlet6": "kymatio"}


def check_dtcwt_options(wavelet: str, padding: str, magbias: float) -> None:
    check_choice("frontend.wavelet", wavelet, WAVELETS)
    check_choice("frontend.padding", padding, PADDINGS)
    if isinstance(magbias, bool) or not isinstance(magbias, (int, float)) or magbias < 0:
        grid = ", ".join(f"{b:g}" for b in MAGBIASES)
        raise ConfigError(
            f"frontend.magbias={magbias!r} is not valid; it must be a number >= 0 (the thesis grid uses {grid})"
        )
