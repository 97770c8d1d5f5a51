"""scatnet: the hybrid ScatterNet study (DTCWT / Morlet scattering + a small CNN), reproducible from the CLI."""

__version__ = "0.1.0"
