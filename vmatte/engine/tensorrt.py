"""TensorRT engines: our static ONNX export built with TensorRT for RTX (`tensorrt_rtx`) where it is
installed, else full TensorRT (`tensorrt`); cached by hash; run with device buffers for the state.

What is verified where: parsing our exports and building engines runs in CI, on a machine with no
GPU (TensorRT for RTX builds ahead of time for a named compute capability). Running an engine
(`TrtStepper`) is written against both libraries' documented Python APIs and is NOT VERIFIED ON
HARDWARE: TensorRT for RTX targets GeForce/RTX cards (SM 7.5-12.1), not the H100/H200 this project
is lent, and full TensorRT cannot be installed on any machine here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from ..cache import cache_dir, cached
from ..errors import VmatteError, log
from ..io.atomic import write_atomically
from ..model import MattingNetwork
from .onnx_export import INPUTS, OUTPUTS, export_onnx, weights_digest

LIBRARIES = ("tensorrt_rtx", "tensorrt")  # preferred first
INSTALL_HINT = ("--backend tensorrt needs TensorRT: pip install 'vmatte[tensorrt-rtx]' for GeForce/RTX cards, or "
                "pip install 'vmatte[tensorrt]' for other NVIDIA GPUs (add -cu12 for a CUDA 12 torch); "
                "or use --backend cuda-graph")


@dataclass(frozen=True)
class Library:
    """The TensorRT flavour in use: its module, import name and version."""

    trt: ModuleType
    name: str
    version: str

    @property
    def rtx(self) -> bool:
        return self.name == "tensorrt_rtx"

    def describe(self) -> str:
        return f"{'TensorRT for RTX' if self.rtx else 'TensorRT'} {self.version} ({self.name})"


def library() -> Library:
    """tensorrt_rtx when importable, else tensorrt; one line saying how to install either when neither is."""
    import importlib

    for name in LIBRARIES:
        try:
            trt = importlib.import_module(name)
        except ImportError:
            continue
        return Library(trt, name, trt.__version__)
    raise VmatteError(INSTALL_HINT)


def current_target() -> str:
    """This machine's GPU as a target name (sm86, sm120, ...)."""
    major, minor = torch.cuda.get_device_capability()
    return f"sm{major}{minor}"


def engine_key(lib: Library, model: MattingNetwork, ratio: float, shape: tuple[int, ...], precision: str,
               targets: tuple[str, ...]) -> str:
    """Everything an engine depends on: library and version, targets, shape, ratio, precision and weights."""
    b, _, h, w = shape
    return (f"rvm-{model.variant}-{weights_digest(model)}-{b}x{h}x{w}-r{ratio:.6f}-{precision}-"
            f"{lib.name}{lib.version}-{'+'.join(sorted(targets))}")


def build_engine(lib: Library, onnx_path: Path, plan: Path, targets: tuple[str, ...]) -> Path:
    """Parse the ONNX export into a strongly typed network (its precision is the graph's) and serialise
    an engine to `plan`. TensorRT for RTX builds for `targets` (compute capabilities; no GPU needed);
    full TensorRT for the GPU present."""
    trt = lib.trt
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise VmatteError(f"{lib.describe()} could not parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    if lib.rtx:
        config.num_compute_capabilities = len(targets)
        for i, t in enumerate(targets):
            config.set_compute_capability(getattr(trt.ComputeCapability, t.upper()), i)
    elif targets != (current_target(),):
        raise VmatteError(f"full TensorRT builds for the GPU it runs on ({current_target()}), not {','.join(targets)}; "
                          "install TensorRT for RTX to build for other cards")
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise VmatteError(f"{lib.describe()} failed to build the engine; use --backend cuda-graph")
    plan.write_bytes(bytes(blob))
    return plan


def cached_engine(model: MattingNetwork, ratio: float, shape: tuple[int, ...], precision: str,
                  targets: tuple[str, ...] | None = None) -> Path:
    """The engine for these settings from $VMATTE_HOME/engines, built if it is missing or fails its
    sha256 check (a tampered or half-written engine is rebuilt, never loaded). targets None: this GPU.
    Engines count towards the cache's size bound (vmatte.cache)."""
    lib = library()
    targets = targets or (current_target(),)
    plan = cache_dir() / "engines" / f"{engine_key(lib, model, ratio, shape, precision, targets)}.plan"
    return cached(plan, lambda tmp: build_engine(lib, export_onnx(model, ratio, shape, precision=precision), tmp,
                                                 targets))


class TrtStepper:
    """Runs the engine with torch-allocated device buffers; the state outputs are copied to the inputs.
    TensorRT for RTX: its runtime cache (the kernels it compiles just in time) is kept beside the engine,
    and the whole step is captured as a CUDA graph by the library. NOT VERIFIED ON HARDWARE."""

    def __init__(self, model: MattingNetwork, ratio: float, shape: tuple[int, ...]) -> None:
        lib = library()
        precision = "fp16" if next(model.parameters()).dtype == torch.float16 else "fp32"
        plan = cached_engine(model, ratio, shape, precision)
        log.info(f"tensorrt backend: {lib.describe()}, engine {plan.name}")
        trt = lib.trt
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(plan.read_bytes())
        if self.engine is None:
            raise VmatteError(f"{plan} does not load on this GPU ({current_target()}); delete it to rebuild")
        self.cache_path, self.runtime_cache = plan.with_suffix(".runtime-cache"), None
        if lib.rtx:  # just-in-time kernels, kept between runs; whole-step CUDA graphs
            config = self.engine.create_runtime_config()
            self.runtime_cache = config.create_runtime_cache()
            if self.cache_path.is_file():
                self.runtime_cache.deserialize(self.cache_path.read_bytes())
            config.set_runtime_cache(self.runtime_cache)
            config.cuda_graph_strategy = trt.CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
            self.context = self.engine.create_execution_context(config)
        else:
            self.context = self.engine.create_execution_context()
        self.buffers: dict[str, torch.Tensor] = {}
        for name in INPUTS + OUTPUTS:
            dtype = torch.float16 if self.engine.get_tensor_dtype(name) == trt.DataType.HALF else torch.float32
            self.buffers[name] = torch.zeros(tuple(self.engine.get_tensor_shape(name)), device="cuda", dtype=dtype)
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.stream = torch.cuda.Stream()
        self.reset()

    def reset(self, stream: int | None = None) -> None:
        for name in INPUTS[1:]:
            (self.buffers[name] if stream is None else self.buffers[name][stream]).zero_()

    def __call__(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.buffers
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            b["src"].copy_(src)
            self.context.execute_async_v3(self.stream.cuda_stream)
            for i, o in zip(INPUTS[1:], OUTPUTS[2:]):
                b[i].copy_(b[o])
        torch.cuda.current_stream().wait_stream(self.stream)
        return b["fgr"].clone(), b["pha"].clone()  # the next step overwrites the buffers

    def get_state(self) -> list[np.ndarray] | None:
        return [self.buffers[n].float().cpu().numpy().copy() for n in INPUTS[1:]]

    def set_state(self, state: list[np.ndarray]) -> None:
        for n, s in zip(INPUTS[1:], state):
            self.buffers[n].copy_(torch.from_numpy(s))

    def settle(self, src: torch.Tensor) -> None:
        self(src)  # the full engine: a second, states-only engine is not worth its build time

    def __del__(self) -> None:
        """Keep TensorRT for RTX's just-in-time kernels for the next run (a cache: a failure only costs time)."""
        if getattr(self, "runtime_cache", None) is not None:
            try:
                data = bytes(self.runtime_cache.serialize())
                write_atomically(self.cache_path, lambda p: p.write_bytes(data))
            except Exception:
                pass
