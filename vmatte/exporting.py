"""`vmatte.export()`: an ONNX graph or TensorRT engine made ahead of time, for one frame size and ratio.

A studio can build engines for its users' cards on any machine: TensorRT for RTX builds for a named
compute capability without a GPU. Engines also land in the cache ($VMATTE_HOME/engines, by hash), so
a second export with the same settings is a cache hit.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .errors import VmatteError
from .io.atomic import write_atomically
from .options import ExportOptions, MattingOptions
from .optionspec import reject_unknown

MATTING = ("model", "weights", "downsample_ratio", "subject", "precision")  # the matting options export takes


def export(format: str = "tensorrt", **options: Any) -> Path:
    """Write `output`: format 'onnx' (a static graph) or 'tensorrt' (an engine), for frames of `size`
    (width, height) pixels at `downsample_ratio` (auto: RVM's guidance for `subject`), `precision` fp16 or
    fp32 (auto: fp16 for TensorRT, fp32 for ONNX), `target` compute capabilities (TensorRT for RTX;
    default this machine's GPU), from `model`/`weights`. Returns the path written."""
    reject_unknown(options, ExportOptions, MATTING, what=" for export")
    opts = ExportOptions.pick({**options, "format": format})
    matting = MattingOptions.pick({k: v for k, v in options.items() if k in MATTING})
    if opts.size is None or opts.output is None:
        raise VmatteError("export needs --size WxH and -o FILE")
    if opts.format == "onnx" and opts.target:
        raise VmatteError("--target is for TensorRT engines; an ONNX graph runs anywhere")
    out = Path(opts.output)
    from .io.atomic import guard_paths

    guard_paths([matting.weights], {"-o": out})  # never over the weights being read
    if not out.parent.is_dir():
        raise VmatteError(f"cannot write {out}: folder {out.parent} does not exist; create it or pick another path")
    precision = matting.precision if matting.precision != "auto" else ("fp16" if opts.format == "tensorrt" else "fp32")
    from .recipe import Recipe, load_network

    w, h = opts.size
    ratio = Recipe(matting, "export").ratio(w, h)
    network = load_network(matting, device="cpu").network
    if precision == "fp16":  # as the runtime holds it (fp16 on CUDA), so both find the same cached engine
        network = network.half()
    shape = (1, 3, h, w)
    if opts.format == "onnx":
        from .engine.onnx_export import export_onnx

        return export_onnx(network, ratio, shape, out, precision=precision)
    from .engine.tensorrt import cached_engine

    if not opts.target:
        import torch

        if not torch.cuda.is_available():
            raise VmatteError("no GPU here to build for; name the cards with --target, e.g. --target sm86,sm89")
    plan = cached_engine(network, ratio, shape, precision, opts.target)
    write_atomically(out, lambda tmp: shutil.copyfile(plan, tmp))
    return out
