"""Scattering front ends. One module per backend, all behind :class:`~scatnet.frontends.base.Frontend`."""

from scatnet.frontends.base import Frontend
from scatnet.frontends.dtcwt import DTCWTScattering
from scatnet.frontends.learnable import LearnableScatterNet
from scatnet.frontends.learned import LearnedStem, NoFrontend
from scatnet.frontends.morlet import MorletScattering
from scatnet.frontends.options import PADDINGS, WAVELETS

__all__ = [
    "Frontend",
    "DTCWTScattering",
    "MorletScattering",
    "LearnedStem",
    "NoFrontend",
    "LearnableScatterNet",
    "WAVELETS",
    "PADDINGS",
]
