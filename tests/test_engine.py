"""Engine backends: the static ONNX export (what TensorRT builds from) and the ONNX Runtime stepper."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from conftest import person_frames
from vmatte.engine import Matter, pick_backend
from vmatte.engine.onnx_export import INPUTS, OUTPUTS, OrtStepper, export_onnx, states_only_graph
from vmatte.errors import VmatteError


@pytest.mark.parametrize("shape,ratio", [((1, 3, 192, 256), 0.375), ((1, 3, 181, 243), 0.5), ((1, 3, 144, 256), 1.0)])
def test_static_export_matches_torch_in_onnxruntime(model, shape, ratio, tmp_path):
    path = export_onnx(model.network, ratio, shape, tmp_path / "e.onnx")
    g = onnx.load(str(path)).graph
    assert [i.name for i in g.input] == INPUTS and [o.name for o in g.output] == OUTPUTS
    for i in g.input:  # every dimension static, no downsample_ratio input: what TensorRT needs
        assert all(d.dim_value > 0 for d in i.type.tensor_type.shape.dim)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rec = [np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32) for i in g.input[1:]]
    frames = [f[: shape[2], : shape[3]] for f in person_frames(10, 256, 192)]
    state = [None] * 4
    worst = 0.0
    for f in frames:
        src = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            fgr, pha, *state = model.network(src, *state, downsample_ratio=ratio)
        ofgr, opha, *rec = session.run(OUTPUTS, dict(zip(INPUTS, [src.numpy(), *rec])))
        worst = max(worst, float(np.abs(pha.numpy() - opha).max()), float(np.abs(fgr.numpy() - ofgr).max()))
    assert worst <= 1e-4


def test_ort_stepper_runs_our_export_for_other_weights(model, tmp_path):
    """Weights with no RVM export of their own (a .pth) run through our static export."""
    import vmatte

    p = tmp_path / "w.pth"
    torch.save(model.network.state_dict(), p)
    other = vmatte.load_model(weights=p, device="cpu")
    assert other.source_onnx is None and model.source_onnx is not None
    a, b = OrtStepper(other, 0.5, (1, 3, 96, 128)), OrtStepper(model, 0.5, (1, 3, 96, 128))
    assert "downsample_ratio" not in [i.name for i in a.session.get_inputs()]
    assert "downsample_ratio" in [i.name for i in b.session.get_inputs()]
    src = torch.from_numpy(person_frames(1, 128, 96)[0]).permute(2, 0, 1)[None].float() / 255
    assert float((a(src)[1] - b(src)[1]).abs().max()) <= 1e-4


def test_matter_backends_agree_with_resets_and_size_changes(model):
    a, b = person_frames(4, 160, 120), person_frames(3, 128, 96)
    t, o = Matter(model, 0.5, "torch"), Matter(model, 0.5, "onnxruntime")
    for i, img in enumerate(a + b + a[:2]):
        if i == 2:
            t.reset()
            o.reset()
        x, y = t(img), o(img)
        assert float((x.pha - y.pha).abs().max()) <= 1e-4


def test_auto_ratio_follows_rvm_guidance():
    """RVM's guidance: portrait 0.375 at 720p, 0.25 at 1080p, 0.125 at 4K; full body 0.6, 0.4, 0.2."""
    from vmatte.engine import auto_downsample_ratio

    got = [round(auto_downsample_ratio(w, h, s), 3) for s in ("portrait", "full-body")
           for w, h in ((1280, 720), (1920, 1080), (3840, 2160))]
    assert got == [0.375, 0.25, 0.125, 0.6, 0.4, 0.2]
    assert auto_downsample_ratio(320, 240) == 1.0  # never above 1


def test_backend_choice_on_cpu():
    cpu = torch.device("cpu")
    assert pick_backend("auto", cpu) == "onnxruntime"
    assert pick_backend("torch", cpu) == "torch"
    with pytest.raises(VmatteError, match="needs a CUDA device"):
        pick_backend("cuda-graph", cpu)
    with pytest.raises(VmatteError, match="unknown backend"):
        pick_backend("openvino", cpu)


def test_cli_offers_every_engine_backend():
    from vmatte import options
    from vmatte.engine import BACKENDS

    assert options.BACKENDS == BACKENDS


def test_torch_compile_backend_matches_eager(model):
    """The opt-in torch.compile path (Inductor, C++ on the CPU; ~1.5 min to compile on 2 cores)."""
    frames = person_frames(3, 128, 96)
    eager, comp = Matter(model, 0.5, "torch"), Matter(model, 0.5, "torch-compile")
    for img in frames:
        a, b = eager(img), comp(img)
        assert float((a.pha - b.pha).abs().max()) <= 1e-4
        assert float((a.fgr - b.fgr).abs().max()) <= 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_graph_matches_eager_and_fp16_is_close(model):
    """The CUDA graph equals eager fp32, through prepare() and a reset (called outside inference mode,
    as the drivers do); fp16 stays within 1e-3 mean |alpha| of fp32 on a real portrait."""
    import vmatte
    from samples.make_sample import camera_move, portrait_photo

    gpu32 = vmatte.load_model(device="cuda", precision="fp32")
    gpu16 = vmatte.load_model(device="cuda", precision="fp16")
    eager, graph = Matter(gpu32, 0.25, "torch"), Matter(gpu32, 0.25, "cuda-graph")
    graph.prepare(640, 360)
    frames = person_frames(8, 640, 360)
    for i, img in enumerate(frames):
        if i == 4:
            eager.reset()
            graph.reset()
        e, g = eager(img), graph(img)
        assert float((e.pha - g.pha).abs().max()) < 1e-4
    diffs = []
    full, half = Matter(gpu32, 0.25, "cuda-graph"), Matter(gpu16, 0.25, "cuda-graph")
    for img in camera_move(portrait_photo(), 8, 1280, 720):
        diffs.append(float((full(img).pha - half(img).pha.float()).abs().mean()))
    assert np.mean(diffs) < 1e-3


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_settle_advances_state_like_a_full_step(model, backend):
    """settle() skips the outputs but leaves the same state as a full step would."""
    frames = person_frames(5, 160, 120)
    full, cheap = Matter(model, 0.5, backend), Matter(model, 0.5, backend)
    for f in frames[:4]:
        full(f)
        cheap.settle(f)
    a, b = full(frames[4]), cheap(frames[4])
    assert float((a.pha - b.pha).abs().max()) <= 1e-5


def test_states_only_export_is_the_pruned_graph(model, tmp_path):
    full = export_onnx(model.network, 0.5, (1, 3, 96, 128), tmp_path / "full.onnx")
    part = states_only_graph(full)
    g_full, g_part = onnx.load(str(full)).graph, onnx.load(str(part)).graph
    assert [o.name for o in g_part.output] == OUTPUTS[2:]
    assert len(g_part.node) < len(g_full.node)
    assert not any(n.op_type == "Resize" and "refiner" in n.name for n in g_part.node)


def test_batched_streams_equal_separate_streams(model):
    from vmatte.engine import BatchMatter

    a, b = person_frames(4, 128, 96, seed=1), person_frames(4, 128, 96, seed=2)
    batch = BatchMatter(model, 0.5, 2)
    sa, sb = Matter(model, 0.5), Matter(model, 0.5)
    for i in range(4):
        if i == 2:  # stream 1 alone starts afresh (a cut in that clip)
            batch.reset(1)
            sb.reset()
        got = batch([a[i], b[i]])
        assert float((got[0].pha - sa(a[i]).pha).abs().max()) < 1e-5
        assert float((got[1].pha - sb(b[i]).pha).abs().max()) < 1e-5


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device on this machine"))])
def test_pixel_round_trip_is_exact(device):
    """uint8/uint16 -> float on the device -> back: every code value survives (through pinned
    buffers on CUDA, where a reused buffer must not overwrite an array already handed out)."""
    from vmatte.pixels import to_array, to_tensor

    for dtype, bits, peak in ((np.uint8, 8, 255), (np.uint16, 16, 65535)):
        img = np.arange(peak + 1, dtype=np.int64)[: 3 * 256 * 85].astype(dtype)
        img = np.resize(img, (85, 256, 3)).astype(dtype)
        backs = [to_array(to_tensor(img + k, torch.device(device), torch.float32), bits) for k in range(3)]
        for k, back in enumerate(backs):
            assert back.dtype == dtype and np.array_equal(back, img + k)
        planar = to_tensor(img, torch.device(device), torch.float32).contiguous()  # what the network returns
        assert np.array_equal(to_array(planar, bits), img)
        assert np.array_equal(to_array(planar[:, 1:2], bits), img[..., 1:2])  # one channel (a matte)


def test_pixels_are_rounded_to_the_nearest_code():
    from vmatte.pixels import to_array

    codes = torch.tensor([10.4, 10.6, 254.49, 254.51, -3.0, 300.0]) / 255
    got = to_array(codes.view(1, 1, 1, 6), 8)[0, :, 0].tolist()
    assert got == [10, 11, 254, 255, 0, 255]
    got16 = to_array((torch.tensor([100.4, 100.6]) / 65535).view(1, 1, 1, 2), 16)[0, :, 0].tolist()
    assert got16 == [100, 101]


def test_half_size_matting_keeps_full_size_detail(model):
    """Matter(scale=0.5) mattes a half-size frame and returns full-size alpha and foreground, the
    foreground being the full-size picture plus the network's (smooth) colour correction."""
    import cv2
    from torch.nn import functional as F

    img = person_frames(1, 160, 120)[0]
    half = Matter(model, 0.5, "torch", scale=0.5)(img)
    assert half.pha.shape == (1, 1, 120, 160) and half.fgr.shape == (1, 3, 120, 160)
    small = cv2.resize(img, (80, 60), interpolation=cv2.INTER_AREA)
    ref = Matter(model, 0.5, "torch")(small)
    up = F.interpolate(torch.cat([ref.fgr - ref.src, ref.pha], 1), size=(120, 160), mode="bilinear",
                       align_corners=False)
    src = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    assert float((half.pha - up[:, 3:].clamp(0, 1)).abs().max()) < 1e-5
    assert float((half.fgr - (src + up[:, :3]).clamp(0, 1)).abs().max()) < 1e-5


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.mark.parametrize("backend, device", [("torch", "cpu"), ("onnxruntime", "cpu"),
                                             pytest.param("torch", "cuda", marks=CUDA),
                                             pytest.param("cuda-graph", "cuda", marks=CUDA)])
def test_a_state_handed_to_another_matter_continues_the_stream(backend, device):
    """What a segment's worker does: a second Matter given the first one's state after frame 5 mattes
    frames 6-9 as the first one does (scale-out relies on it). Identical on the CPU; on CUDA each
    Matter captures its own graph, so up to rounding."""
    import vmatte

    model = vmatte.load_model(device=device)
    frames = person_frames(10, 96, 64, seed=4)
    first, second = Matter(model, 0.5, backend), Matter(model, 0.5, backend)
    with torch.inference_mode():
        want = [first(f).pha.float().cpu() for f in frames]
        first.reset()
        for f in frames[:6]:
            first(f)
        state = first.get_state()
        second.set_state(state, frames[6])
        got = [second(f).pha.float().cpu() for f in frames[6:]]
    assert state is not None and len(state) == 4 and all(s.dtype == np.float32 for s in state)
    for g, w in zip(got, want[6:]):
        assert (g - w).abs().max().item() <= (0 if device == "cpu" else 2e-3)
    fresh = Matter(model, 0.5, backend)
    with torch.inference_mode():
        assert (fresh(frames[6]).pha.float().cpu() - want[6]).abs().max().item() > 1e-3  # the state matters
