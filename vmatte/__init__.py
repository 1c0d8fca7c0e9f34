"""vmatte: temporally consistent video matting.

The public API, importable from `vmatte` alone:

- runs: `convert` (clips, folders, photos), `live` (a camera to a virtual camera, stream or file),
  `export` (an ONNX graph or TensorRT engine ahead of time); their results `Summary`, `BatchSummary`,
  `LiveStats`;
- the checked option sets `MattingOptions`, `OutputOptions`, `ScaleOptions`, `LiveOptions`,
  `ExportOptions`, and `Recipe`, what a run makes of them (the network loaded once, the ratio, the
  look, the shot strategy); `convert_clip`, one opened source into its outputs with a recipe;
- the network: `load_model`, `LoadedModel`;
- sources and sinks: `open_source` (files, URLs, image sequences, cameras) and `open_sink` (files, PNG
  sequences, udp://, the virtual camera), their protocols `Source` and `Sink`, and `Frame`, `SourceInfo`;
- `VmatteError`, the one exception users see.

Everything but the options loads on first use (PEP 562), so the command line checks its options, and
answers --help, without importing torch.
"""
from importlib import import_module

from .errors import VmatteError as VmatteError
from .options import ExportOptions as ExportOptions
from .options import LiveOptions as LiveOptions
from .options import MattingOptions as MattingOptions
from .options import OutputOptions as OutputOptions
from .options import ScaleOptions as ScaleOptions

_LAZY = {
    "convert": "dispatch", "live": "realtime", "export": "exporting", "convert_clip": "clip", "Recipe": "recipe",
    "Summary": "pipeline", "BatchSummary": "pipeline", "LiveStats": "stats",
    "load_model": "weights", "LoadedModel": "weights", "Matter": "engine", "Matte": "engine",
    "open_source": "io.sources", "open_sink": "io.sinks", "Source": "io.frames", "Sink": "io.sinks",
    "Frame": "io.frames", "SourceInfo": "io.frames",
}
__all__ = sorted(["ExportOptions", "LiveOptions", "MattingOptions", "OutputOptions", "ScaleOptions", "VmatteError",
                  *_LAZY])
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
