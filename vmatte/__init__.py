"""vmatte: temporally consistent video matting."""
from .batch import BatchSummary, convert
from .errors import VmatteError
from .options import LiveOptions, MattingOptions, OutputOptions
from .weights import LoadedModel, load_model

__all__ = ["BatchSummary", "LiveOptions", "LoadedModel", "MattingOptions", "OutputOptions", "VmatteError", "convert",
           "load_model"]
__version__ = "0.1.0"
