"""TensorRT backend: our static ONNX export built into an fp16 engine, state kept in device buffers.

NOT VERIFIED ON HARDWARE: no machine this project is tested on can install TensorRT. The export it
builds from is verified (tests compare it, in ONNX Runtime, with the torch network). Engines are
cached by GPU name, TensorRT version, shape, ratio and precision.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import VmatteError
from ..io.atomic import write_atomically
from ..model import MattingNetwork
from ..weights import cache_dir
from .onnx_export import INPUTS, OUTPUTS, export_onnx, weights_digest

INSTALL_HINT = ("--backend tensorrt needs NVIDIA TensorRT's Python package: pip install tensorrt "
                "(from NVIDIA's package index; see NVIDIA's TensorRT install guide), or use --backend cuda-graph")


def _trt():
    try:
        import tensorrt as trt
    except ImportError:
        raise VmatteError(INSTALL_HINT) from None
    return trt


def engine_path(model: MattingNetwork, ratio: float, shape: tuple[int, ...], fp16: bool) -> Path:
    """Where the engine for this GPU, TensorRT version, weights, shape, ratio and precision is cached."""
    trt = _trt()
    gpu = torch.cuda.get_device_name().replace(" ", "_")
    b, _, h, w = shape
    key = (f"rvm-{model.variant}-{weights_digest(model)}-{b}x{h}x{w}-r{ratio:.6f}-"
           f"{'fp16' if fp16 else 'fp32'}-trt{trt.__version__}-{gpu}")
    return cache_dir() / "engines" / f"{key}.plan"


def build_engine(onnx_path: Path, plan: Path, fp16: bool = True, workspace_gb: float = 2.0) -> Path:
    """Parse the ONNX export and serialise an engine to `plan` (temporary name, then renamed)."""
    trt = _trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise VmatteError(f"TensorRT could not parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise VmatteError("TensorRT failed to build the engine; see its log above, or use --backend cuda-graph")
    write_atomically(plan, lambda p: p.write_bytes(bytes(blob)))
    return plan


class TrtStepper:
    """Runs the engine with torch-allocated device buffers; the state outputs are copied to the inputs."""

    def __init__(self, model: MattingNetwork, ratio: float, shape: tuple[int, ...], fp16: bool = True) -> None:
        trt = _trt()
        plan = engine_path(model, ratio, shape, fp16)
        if not plan.exists():
            build_engine(export_onnx(model, ratio, shape), plan, fp16)
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(plan.read_bytes())
        self.context = self.engine.create_execution_context()
        dev = torch.device("cuda")
        self.buffers: dict[str, torch.Tensor] = {}
        for name in INPUTS + OUTPUTS:
            dims = tuple(self.engine.get_tensor_shape(name))
            self.buffers[name] = torch.zeros(dims, device=dev, dtype=torch.float32)
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

    def settle(self, src: torch.Tensor) -> None:
        self(src)  # the full engine: a second, states-only engine is not worth its build time
