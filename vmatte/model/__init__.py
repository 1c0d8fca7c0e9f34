"""The RVM matting network, written for vmatte with RVM-compatible parameter names."""
from .network import VARIANTS, MattingNetwork

__all__ = ["MattingNetwork", "VARIANTS"]
