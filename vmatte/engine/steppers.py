"""PyTorch steppers: eager (any device) and CUDA-graph (NVIDIA GPUs)."""
from __future__ import annotations

import weakref

import numpy as np
import torch

from ..model import MattingNetwork

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A state tensor as a float32 array on the host (fp16 converts exactly, so it goes back unchanged)."""
    return t.detach().float().cpu().numpy().copy()


def compiled(model: MattingNetwork) -> MattingNetwork:
    """`torch.compile(model)` (default mode), made once per model and shared by its steppers.
    `advance` (settling) stays eager: attribute lookups pass through to the original module."""
    if model not in _COMPILED:
        _COMPILED[model] = torch.compile(model, dynamic=False)
    return _COMPILED[model]


class TorchStepper:
    """Eager PyTorch; the state is whatever the network returns."""

    def __init__(self, model: MattingNetwork, ratio: float) -> None:
        self.model, self.ratio = model, ratio
        self.state: list[torch.Tensor | None] = [None] * 4

    def reset(self, stream: int | None = None) -> None:
        if stream is None:
            self.state = [None] * 4
        else:
            for s in self.state:
                if s is not None:
                    s[stream] = 0

    def __call__(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fgr, pha, *self.state = self.model(src, *self.state, downsample_ratio=self.ratio)
        return fgr, pha

    def settle(self, src: torch.Tensor) -> None:
        """Advance the state on `src` without producing outputs."""
        self.state = list(self.model.advance(src, *self.state, downsample_ratio=self.ratio))

    def get_state(self) -> list[np.ndarray] | None:
        return None if self.state[0] is None else [to_numpy(s) for s in self.state]

    def set_state(self, state: list[np.ndarray]) -> None:
        p = next(self.model.parameters())
        self.state = [torch.from_numpy(s).to(p.device, p.dtype) for s in state]


class CudaGraphStepper:
    """The recurrent step captured once as a CUDA graph for one input shape and ratio.

    Eager PyTorch is launch-bound on a fast GPU (~6 ms per frame whatever the size); replaying a
    graph costs one launch. Input, output and the four states live in static device buffers: a step
    copies the frame in, replays, and copies the new state over the old one on the device.
    """

    def __init__(self, model: MattingNetwork, ratio: float, shape: tuple[int, ...], warmup: int = 3) -> None:
        self.model, self.ratio = model, ratio
        p = next(model.parameters())
        self.src = torch.zeros(shape, device=p.device, dtype=p.dtype).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            _, _, *state = model(self.src, downsample_ratio=ratio)  # state shapes for this input size
        self.state = [torch.zeros_like(s) for s in state]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(warmup):  # cuDNN picks its kernels outside the capture
                model(self.src, *self.state, downsample_ratio=ratio)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.fgr, self.pha, *self.next_state = model(self.src, *self.state, downsample_ratio=ratio)
        self.reset()

    @torch.inference_mode()
    def reset(self, stream: int | None = None) -> None:
        for s in self.state:
            (s if stream is None else s[stream]).zero_()

    def __call__(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.src.copy_(src)
        self.graph.replay()
        for s, n in zip(self.state, self.next_state):
            s.copy_(n)
        # Copies: the next replay overwrites the graph's outputs, and a caller may still hold these.
        return self.fgr.clone(), self.pha.clone()

    @torch.inference_mode()
    def settle(self, src: torch.Tensor) -> None:
        """Advance the state without outputs (eager: settling runs a few frames per shot)."""
        for s, n in zip(self.state, self.model.advance(src, *self.state, downsample_ratio=self.ratio)):
            s.copy_(n)

    def get_state(self) -> list[np.ndarray] | None:
        return [to_numpy(s) for s in self.state]

    @torch.inference_mode()
    def set_state(self, state: list[np.ndarray]) -> None:
        for s, n in zip(self.state, state):
            s.copy_(torch.from_numpy(n))
