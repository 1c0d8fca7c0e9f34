"""vmatte: temporally consistent video matting."""
from .batch import BatchSummary, convert
from .errors import VmatteError
from .weights import load_model

__all__ = ["BatchSummary", "VmatteError", "convert", "load_model"]
__version__ = "0.1.0"
