"""Networks that sit on top of the scattering front ends: each a Network (network.py)."""

from scatnet.models.hybrid import HybridNet
from scatnet.models.network import Network
from scatnet.models.pooling_cnn import PoolingCNN

__all__ = ["HybridNet", "Network", "PoolingCNN"]
