"""Networks that sit on top of the scattering front ends."""
from scatnet.models.hybrid import HybridNet

__all__ = ["HybridNet"]
