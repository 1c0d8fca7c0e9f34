"""The engine: one stream's recurrent matting state around a backend.

A backend is a *stepper* (`protocol.Stepper`): one recurrent step for a [B,3,H,W] frame batch at a
fixed size, carrying the state itself, with `settle` and a per-stream `reset`. Backends:

- torch: eager PyTorch, any device (`steppers.TorchStepper`);
- cuda-graph: the recurrent step captured as a CUDA graph per (shape, ratio), state on the GPU
  (`steppers.CudaGraphStepper`);
- onnxruntime: our own static-shape ONNX export run in ONNX Runtime, the fastest on CPU
  (`onnx_export.OrtStepper`);
- tensorrt: the same export built into an fp16 TensorRT engine (`tensorrt.TrtStepper`);
- torch-compile: the network through `torch.compile` (Inductor), then as above: eager steps on the
  CPU, a CUDA graph on a GPU. Opt-in only: the first frame of each size waits for the compiler.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..colour import YuvImage
from ..errors import VmatteError
from ..pixels import to_tensor
from ..weights import LoadedModel
from .protocol import Stepper

# RVM's guidance: an internal short side of ~270 px for portraits, ~432 px for full body.
SUBJECT_SHORT_SIDE = {"portrait": 270, "full-body": 432}
BACKENDS = ("auto", "torch", "cuda-graph", "onnxruntime", "tensorrt", "torch-compile")  # options.BACKENDS too


def auto_downsample_ratio(width: int, height: int, subject: str = "portrait", scale: float = 1.0) -> float:
    """Ratio (0..1] that brings the short side of width x height pixels to RVM's recommended internal size
    for `subject`, times `scale` (recipe.EFFORT_SCALE gives each --effort's)."""
    if subject not in SUBJECT_SHORT_SIDE:
        raise ValueError(f"subject must be one of {sorted(SUBJECT_SHORT_SIDE)}")
    return min(1.0, SUBJECT_SHORT_SIDE[subject] * scale / min(width, height))


def pick_backend(backend: str, device: torch.device) -> str:
    """'auto' -> cuda-graph on CUDA, onnxruntime on CPU (when installed), else torch."""
    if backend not in BACKENDS:
        raise VmatteError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend != "auto":
        if backend == "tensorrt":  # which library, or how to install one, comes first
            from .tensorrt import library

            library()
        if backend in ("cuda-graph", "tensorrt") and device.type != "cuda":
            raise VmatteError(f"--backend {backend} needs a CUDA device; use --backend torch or onnxruntime on CPU")
        if backend == "onnxruntime" and device.type != "cpu":
            raise VmatteError("--backend onnxruntime runs on the CPU here; use --device cpu")
        return backend
    if device.type == "cuda":
        return "cuda-graph"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnxruntime"


def make_stepper(model: LoadedModel, ratio: float, shape: tuple[int, ...], backend: str) -> Stepper:
    """A stepper for frames of `shape` ([B,3,H,W]) at downsample `ratio`."""
    from . import steppers

    if backend == "torch":
        return steppers.TorchStepper(model.network, ratio)
    if backend == "cuda-graph":
        return steppers.CudaGraphStepper(model.network, ratio, shape)
    if backend == "torch-compile":
        net = steppers.compiled(model.network)
        on_gpu = next(model.network.parameters()).device.type == "cuda"
        return steppers.CudaGraphStepper(net, ratio, shape) if on_gpu else steppers.TorchStepper(net, ratio)
    if backend == "onnxruntime":
        from .onnx_export import OrtStepper

        return OrtStepper(model, ratio, shape)
    if backend == "tensorrt":
        from .tensorrt import TrtStepper

        return TrtStepper(model.network, ratio, shape)
    raise VmatteError(f"unknown backend {backend!r}")


@dataclass
class Matte:
    """One frame's result, on the engine's device: src and fgr [1,3,H,W] RGB 0..1, pha [1,1,H,W] alpha 0..1."""

    src: torch.Tensor
    fgr: torch.Tensor
    pha: torch.Tensor


class Matter:
    """Mattes one stream frame by frame, carrying the recurrent state between calls.

    A change of frame size starts a fresh state (and, for static-shape backends, a new stepper).
    `scale` < 1 runs the whole network, refiner included, on a frame reduced by that factor and brings
    alpha and the foreground *correction* back to full size: the picture keeps its full detail, the
    matte's edge is softer. A live source uses it only when nothing else keeps up.
    """

    def __init__(self, model: LoadedModel, downsample_ratio: float, backend: str = "torch",
                 scale: float = 1.0) -> None:
        self.model = model
        self.scale = float(scale)
        self.ratio = float(downsample_ratio)
        p = next(model.network.parameters())
        self.device, self.dtype = p.device, p.dtype
        self.backend = pick_backend(backend, self.device)
        self._steppers: dict[tuple[int, ...], Stepper] = {}
        self._size: tuple[int, ...] | None = None

    @torch.inference_mode()  # the steppers' state buffers are inference tensors
    def reset(self, stream: int | None = None) -> None:
        """Forget the recurrent state (a new shot or a new stream) of batch row `stream`, or all of it."""
        for s in self._steppers.values():
            s.reset(stream)

    def prepare(self, width: int, height: int) -> None:
        """Build the backend for width x height pixels now (an export, a graph capture) rather than
        on the first frame, where a live loop would drop frames while it waits."""
        self(np.zeros((height, width, 3), np.uint8))
        self.reset()

    def _stepper(self, src: torch.Tensor) -> Stepper:
        shape = tuple(src.shape)
        if shape != self._size:
            self._size = shape
            if shape not in self._steppers:  # at least one pixel inside the network, however small the frame
                ratio = max(self.ratio, 1 / min(shape[-2:]))
                self._steppers[shape] = make_stepper(self.model, ratio, shape, self.backend)
            self.reset()
        return self._steppers[shape]

    def _reduced(self, image: np.ndarray | YuvImage | torch.Tensor) -> np.ndarray | torch.Tensor:
        """`image` reduced by `scale` (an area average): on the host for an array, on the device otherwise."""
        h, w = image.shape[-2:] if isinstance(image, torch.Tensor) else image.shape[:2]
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        if isinstance(image, np.ndarray):
            return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        src = image if isinstance(image, torch.Tensor) else to_tensor(image, self.device, torch.float32)
        return F.interpolate(src.float(), size=size[::-1], mode="area").to(self.dtype)

    def _input(self, image: np.ndarray | YuvImage | torch.Tensor) -> torch.Tensor:
        return image if isinstance(image, torch.Tensor) else to_tensor(image, self.device, self.dtype)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray | YuvImage | torch.Tensor) -> Matte:
        """Matte one HxWx3 RGB uint8/uint16 frame, a decoded picture's YUV planes, or a [1,3,H,W] tensor
        on the engine's device (RGB 0..1 in its dtype, e.g. another Matte's src mirrored)."""
        src = self._input(image)
        if self.scale == 1.0:
            fgr, pha = self._stepper(src)(src)
            return Matte(src, fgr, pha)
        small = self._input(self._reduced(src if isinstance(image, YuvImage) else image))
        fgr, pha = self._stepper(small)(small)
        both = F.interpolate(torch.cat([fgr - small, pha], 1).float(), size=src.shape[-2:], mode="bilinear",
                             align_corners=False).to(src.dtype)
        return Matte(src, (src + both[:, :3]).clamp(0, 1), both[:, 3:].clamp(0, 1))

    def get_state(self) -> list[np.ndarray] | None:
        """The recurrent state of the current frame size, as float32 arrays (None before any frame)."""
        stepper = self._steppers.get(self._size) if self._size is not None else None
        return stepper.get_state() if stepper is not None else None

    @torch.inference_mode()
    def set_state(self, state: list[np.ndarray], image: np.ndarray) -> None:
        """Continue from `state` (get_state's, for frames like `image`): a segment picks up where the
        frame before it left the network, as if one process had matted them all."""
        src = self._input(image if self.scale == 1.0 else self._reduced(image))
        self._stepper(src).set_state(state)

    @torch.inference_mode()
    def settle(self, image: np.ndarray | torch.Tensor) -> None:
        """Advance the recurrent state on a frame without producing its matte (cheaper than a call)."""
        src = self._input(image if self.scale == 1.0 else self._reduced(image))
        self._stepper(src).settle(src)


class BatchMatter:
    """Mattes several streams of one size together, one batched step for all (one CUDA graph on a GPU).

    `__call__(images)` takes one HxWx3 frame per stream, in a fixed stream order, and returns one
    Matte per stream; `reset(i)` starts stream i afresh without touching the others.
    """

    def __init__(self, model: LoadedModel, downsample_ratio: float, streams: int, backend: str = "torch") -> None:
        self.matter = Matter(model, downsample_ratio, backend)
        self.streams = streams

    def reset(self, stream: int | None = None) -> None:
        """Forget the state of one stream (or of all)."""
        self.matter.reset(stream)

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray]) -> list[Matte]:
        if len(images) != self.streams:
            raise ValueError(f"expected {self.streams} frames, one per stream, got {len(images)}")
        m = self.matter
        src = torch.cat([to_tensor(img, m.device, m.dtype) for img in images])
        fgr, pha = m._stepper(src)(src)
        return [Matte(src[i:i + 1], fgr[i:i + 1], pha[i:i + 1]) for i in range(self.streams)]
