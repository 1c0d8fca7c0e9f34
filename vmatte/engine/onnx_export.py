"""Static-shape ONNX export of our network, and the ONNX Runtime stepper that runs it.

One export per (weights, input shape, downsample ratio): the ratio is baked in and every shape is
static, which is what TensorRT needs (a dynamic `downsample_ratio` input is what breaks RVM's own
TensorRT users). Inputs: src [B,3,H,W] RGB 0..1 and r1i..r4i; outputs fgr, pha, r1o..r4o. Exports are
cached in $VMATTE_HOME/engines/.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import VmatteError
from ..model import MattingNetwork
from ..weights import _atomic_write, cache_dir

INPUTS = ["src", "r1i", "r2i", "r3i", "r4i"]
OUTPUTS = ["fgr", "pha", "r1o", "r2o", "r3o", "r4o"]


class _FixedRatio(torch.nn.Module):
    def __init__(self, model: MattingNetwork, ratio: float, states_only: bool = False) -> None:
        super().__init__()
        self.model, self.ratio, self.states_only = model, ratio, states_only

    def forward(self, src, r1, r2, r3, r4):
        step = self.model.advance if self.states_only else self.model
        return step(src, r1, r2, r3, r4, downsample_ratio=self.ratio)


def weights_digest(model: MattingNetwork) -> str:
    """A short hash of the parameters, so cached exports follow the weights."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _cpu_copy(model: MattingNetwork) -> MattingNetwork:
    m = MattingNetwork(model.variant)
    m.load_state_dict({k: v.float().cpu() for k, v in model.state_dict().items()})
    return m.eval()


def export_onnx(model: MattingNetwork, ratio: float, shape: tuple[int, ...], path: str | Path | None = None,
                opset: int = 17, states_only: bool = False) -> Path:
    """Export for one input shape [B,3,H,W] and ratio; returns the .onnx path (cached unless `path`).

    states_only exports MattingNetwork.advance (outputs r1o..r4o only), for settling."""
    b, c, h, w = shape
    if path is None:
        kind = "-state" if states_only else ""
        key = f"rvm-{model.variant}-{weights_digest(model)}-{b}x{h}x{w}-r{ratio:.6f}-op{opset}{kind}"
        path = cache_dir() / "engines" / f"{key}.onnx"
        if path.exists():
            return path
    path = Path(path)
    cpu = _cpu_copy(model)
    x = torch.zeros(shape)
    with torch.inference_mode():
        _, _, *state = cpu(x, downsample_ratio=ratio)
    state = [torch.zeros_like(s) for s in state]

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_FixedRatio(cpu, ratio, states_only), (x, *state), str(tmp), input_names=INPUTS,
                              output_names=OUTPUTS[2:] if states_only else OUTPUTS, opset_version=opset,
                              dynamo=False, do_constant_folding=True)

    try:
        _atomic_write(path, write)
    except VmatteError:
        raise
    except Exception as e:  # exporter failures are internal, but say what to do
        raise VmatteError(f"ONNX export failed ({type(e).__name__}: {e}); use --backend torch") from None
    return path


class OrtStepper:
    """Runs the static export in ONNX Runtime on the CPU, the recurrent state kept as numpy arrays."""

    def __init__(self, model: MattingNetwork, ratio: float, shape: tuple[int, ...], threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise VmatteError("--backend onnxruntime needs onnxruntime: pip install onnxruntime") from None
        self.model, self.ratio, self.shape = model, ratio, shape
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = threads or torch.get_num_threads()
        # Spinning worker threads would steal the cores the decoder and encoder threads need.
        self.options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = self._session(states_only=False)
        self.settler = None  # the states-only export, made on the first settle()
        self.shapes = [tuple(i.shape) for i in self.session.get_inputs()[1:]]
        self.reset()

    def _session(self, states_only: bool):
        import onnxruntime as ort

        path = export_onnx(self.model, self.ratio, self.shape, states_only=states_only)
        return ort.InferenceSession(str(path), self.options, providers=["CPUExecutionProvider"])

    def reset(self) -> None:
        self.state = [np.zeros(s, np.float32) for s in self.shapes]

    def __call__(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feed = dict(zip(INPUTS, [src.float().contiguous().numpy(), *self.state]))
        fgr, pha, *self.state = self.session.run(OUTPUTS, feed)
        return torch.from_numpy(fgr), torch.from_numpy(pha)

    def settle(self, src: torch.Tensor) -> None:
        """Advance the state without outputs, through the states-only export."""
        if self.settler is None:
            self.settler = self._session(states_only=True)
        feed = dict(zip(INPUTS, [src.float().contiguous().numpy(), *self.state]))
        self.state = self.settler.run(OUTPUTS[2:], feed)
