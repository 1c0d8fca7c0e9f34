"""vmatte: temporally consistent video matting."""
from .errors import VmatteError
from .weights import load_model

__all__ = ["VmatteError", "load_model"]
__version__ = "0.1.0"
