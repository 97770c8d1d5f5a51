"""Networks that sit on top of the scattering front ends."""

from scatnet.models.hybrid import HybridNet
from scatnet.models.pooling_cnn import PoolingCNN

__all__ = ["HybridNet", "PoolingCNN"]
