"""Static-shape ONNX export of our network, and the ONNX Runtime stepper that runs it.

One export per (weights, input shape, downsample ratio): the ratio is baked in and every shape is
static, which is what TensorRT needs (a dynamic `downsample_ratio` input is what breaks RVM's own
TensorRT users). Inputs: src [B,3,H,W] RGB 0..1 and r1i..r4i; outputs fgr, pha, r1o..r4o. Exports are
cached in $VMATTE_HOME/engines/.
"""
from __future__ import annotations

import hashlib
import warnings
import weakref
from pathlib import Path

import numpy as np
import torch

from ..cache import cache_dir, cached
from ..errors import VmatteError
from ..io.atomic import write_atomically
from ..model import MattingNetwork
from ..weights import LoadedModel

INPUTS = ["src", "r1i", "r2i", "r3i", "r4i"]
OUTPUTS = ["fgr", "pha", "r1o", "r2o", "r3o", "r4o"]


class _FixedRatio(torch.nn.Module):
    def __init__(self, model: MattingNetwork, ratio: float) -> None:
        super().__init__()
        self.model, self.ratio = model, ratio

    def forward(self, src, r1, r2, r3, r4):
        return self.model(src, r1, r2, r3, r4, downsample_ratio=self.ratio)


def weights_digest(model: MattingNetwork) -> str:
    """A short hash of the parameters, so cached exports follow the weights. The unused segmentation head
    (project_seg) is left out: weights converted from RVM's export lack it, so it is random in every process."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        if k.startswith("project_seg."):
            continue
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _cpu_copy(model: MattingNetwork) -> MattingNetwork:
    m = MattingNetwork(model.variant)
    m.load_state_dict({k: v.float().cpu() for k, v in model.state_dict().items()})
    return m.eval()


def export_onnx(model: MattingNetwork, ratio: float, shape: tuple[int, ...], path: str | Path | None = None,
                opset: int = 17, precision: str = "fp32") -> Path:
    """Export for one input shape [B,3,H,W] and ratio; returns the .onnx path (cached unless `path`).

    precision fp16: the whole graph, inputs and outputs in float16 (what a strongly typed TensorRT
    network then runs in). Against fp32, both in ONNX Runtime, on 30 real 512x288 frames: mean |alpha|
    difference 8.9e-6, max 0.0066 (benchmarks/tensorrt_build.py), so no part is kept in fp32."""
    b, c, h, w = shape
    if path is None:
        suffix = "" if precision == "fp32" else f"-{precision}"
        key = f"rvm-{model.variant}-{weights_digest(model)}-{b}x{h}x{w}-r{ratio:.6f}-op{opset}{suffix}"
        return cached(cache_dir() / "engines" / f"{key}.onnx",
                      lambda tmp: export_onnx(model, ratio, shape, tmp, opset, precision))
    path = Path(path)
    dtype = {"fp32": torch.float32, "fp16": torch.float16}[precision]
    cpu = _cpu_copy(model).to(dtype)
    x = torch.zeros(shape, dtype=dtype)
    with torch.inference_mode():
        _, _, *state = cpu(x, downsample_ratio=ratio)
    state = [torch.zeros_like(s) for s in state]

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_FixedRatio(cpu, ratio), (x, *state), str(tmp), input_names=INPUTS,
                              output_names=OUTPUTS, opset_version=opset, dynamo=False, do_constant_folding=True)

    try:
        write_atomically(path, write)
    except VmatteError:
        raise
    except Exception as e:  # exporter failures are internal, but say what to do
        raise VmatteError(f"ONNX export failed ({type(e).__name__}: {e}); use --backend torch") from None
    return path


def states_only_graph(path: Path) -> Path:
    """The graph of an RVM export pruned to its state outputs r1o..r4o (cached beside the engines, keyed by
    the export's own sha256)."""
    import onnx
    import onnx.utils

    from ..cache import sha256_of

    def extract(tmp: Path) -> None:
        inputs = [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]
        onnx.utils.extract_model(str(path), str(tmp), inputs, OUTPUTS[2:])

    return cached(cache_dir() / "engines" / f"{path.stem}-{sha256_of(path)[:16]}-state.onnx", extract)


# Sessions hold no recurrent state (the steppers do), so steppers of one graph share one: each costs
# ~400 MB at 720p, and --effort best runs three streams of one graph.
_SESSIONS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _session(path: Path, options) -> object:
    """The ONNX Runtime session for `path` with `options`' thread count, shared while in use."""
    import onnxruntime as ort

    key = (str(path), options.intra_op_num_threads)
    found = _SESSIONS.get(key)
    if found is None:
        found = _SESSIONS[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return found


class OrtStepper:
    """ONNX Runtime on the CPU, the recurrent state kept as numpy arrays.

    With the registry's weights (or an RVM .onnx given as --weights) it runs that verified export as it
    is, with its dynamic downsample_ratio input: no export step, and its graph is the leanest. Otherwise
    (and at ratio 1, where the official export still applies its refiner) it runs our static export.
    """

    def __init__(self, model: LoadedModel, ratio: float, shape: tuple[int, ...], threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise VmatteError("--backend onnxruntime needs onnxruntime: pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        # Spinning worker threads would steal the cores the decoder and encoder threads need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = model.source_onnx
        self.path = source if source is not None and ratio != 1.0 else export_onnx(model.network, ratio, shape)
        self.session = _session(self.path, options)
        self.options = options
        self.extra = {"downsample_ratio": np.array([ratio], np.float32)} if self.path == source else {}
        self.shapes = [tuple(d if isinstance(d, int) else 1 for d in i.shape) for i in self.session.get_inputs()[1:5]]
        self.settler = None  # the states-only graph, made on the first settle()
        self.reset()

    def reset(self, stream: int | None = None) -> None:
        if stream is None:
            self.state = [np.zeros(s, np.float32) for s in self.shapes]
        else:
            for s in self.state:
                if s.shape[0] > stream:  # else still the [1,1,1,1] zeros of a fresh start
                    s[stream] = 0

    def _feed(self, src: torch.Tensor) -> dict[str, np.ndarray]:
        return {**dict(zip(INPUTS, [src.float().contiguous().numpy(), *self.state])), **self.extra}

    def __call__(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fgr, pha, *self.state = self.session.run(OUTPUTS, self._feed(src))
        return torch.from_numpy(fgr), torch.from_numpy(pha)

    def get_state(self) -> list[np.ndarray] | None:
        return [s.copy() for s in self.state]

    def set_state(self, state: list[np.ndarray]) -> None:
        self.state = [np.asarray(s, np.float32).copy() for s in state]

    def settle(self, src: torch.Tensor) -> None:
        """Advance the state without outputs, through the graph pruned to the state outputs."""
        if self.settler is None:
            self.settler = _session(states_only_graph(Path(self.path)), self.options)
        self.state = self.settler.run(OUTPUTS[2:], self._feed(src))
