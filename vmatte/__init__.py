"""vmatte: temporally consistent video matting.

`convert`, `load_model` and the rest load on first use (PEP 562), so the command line checks its
options, and answers --help, without importing torch.
"""
from importlib import import_module

from .errors import VmatteError
from .options import LiveOptions, MattingOptions, OutputOptions

_LAZY = {"convert": "batch", "BatchSummary": "pipeline", "load_model": "weights", "LoadedModel": "weights"}
__all__ = ["BatchSummary", "LiveOptions", "LoadedModel", "MattingOptions", "OutputOptions", "VmatteError", "convert",
           "load_model"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
