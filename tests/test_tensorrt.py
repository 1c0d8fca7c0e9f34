"""TensorRT engines, built in CI with TensorRT for RTX (its builder needs no GPU). Running an engine
needs an RTX-class card, which no machine here has: that part is not tested (see docs/engines.md)."""
from __future__ import annotations

import subprocess
import sys

import onnx
import pytest

import vmatte
from clitools import assert_clean_failure
from clitools import vmatte as run
from vmatte.cache import sha256_of, sidecar
from vmatte.engine import tensorrt as trt_engine

trt = pytest.importorskip("tensorrt_rtx", reason="TensorRT for RTX is not installed (pip install "
                          "'vmatte[tensorrt-rtx]'; make dev installs it)")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A private cache for engines, with the registry's weights linked in."""
    import os

    from vmatte.cache import cache_dir

    h = tmp_path_factory.mktemp("home")
    (h / "weights").symlink_to(cache_dir() / "weights")
    old = os.environ.get("VMATTE_HOME")
    os.environ["VMATTE_HOME"] = str(h)
    yield h
    if old is None:
        os.environ.pop("VMATTE_HOME")
    else:
        os.environ["VMATTE_HOME"] = old


@pytest.fixture(scope="module")
def network():
    return vmatte.load_model(device="cpu").network


CASES = [(w, h, r, p) for (w, h) in ((1280, 720), (1920, 1080)) for r in (0.25, 0.5) for p in ("fp32", "fp16")]


@pytest.mark.parametrize("w,h,ratio,precision", CASES, ids=[f"{w}x{h}-r{r}-{p}" for w, h, r, p in CASES])
def test_static_export_parses_and_builds_for_rtx_targets(home, network, w, h, ratio, precision):
    from vmatte.engine.onnx_export import export_onnx

    net = network.half() if precision == "fp16" else network.float()
    path = export_onnx(net, ratio, (1, 3, h, w), precision=precision)
    elem = onnx.TensorProto.FLOAT16 if precision == "fp16" else onnx.TensorProto.FLOAT
    assert all(i.type.tensor_type.elem_type == elem for i in onnx.load(str(path)).graph.input)
    lib = trt_engine.library()
    assert lib.rtx and lib.version == trt.__version__
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net_def = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(net_def, logger)
    assert parser.parse(path.read_bytes()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    assert parser.num_errors == 0
    plan = trt_engine.cached_engine(net, ratio, (1, 3, h, w), precision, ("sm86", "sm89", "sm120"))
    assert plan.stat().st_size > 1_000_000
    assert sidecar(plan).read_text().strip() == sha256_of(plan)
    assert f"{precision}-tensorrt_rtx{trt.__version__}-sm120+sm86+sm89" in plan.name
    assert not [p.name for p in plan.parent.iterdir() if p.name.startswith(".")]  # nothing half-written left


def test_export_command_writes_engine_atomically_and_caches_it(home, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    res = run("export", "tensorrt", "--size", "640x360", "--downsample-ratio", "0.5", "--precision", "fp16",
              "--target", "sm86,sm89,sm120", "-o", out / "rvm.plan")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["rvm.plan"]
    cached = sorted(home.glob("engines/*sm120+sm86+sm89.plan"))
    key = [p for p in cached if "1x360x640-r0.500000-fp16" in p.name]
    assert len(key) == 1 and key[0].read_bytes() == (out / "rvm.plan").read_bytes()
    # The same key again: a cache hit, nothing is built.
    built = []
    monkeypatch.setattr(trt_engine, "build_engine", lambda *a: built.append(a))
    net = vmatte.load_model(device="cpu").network.half()
    assert trt_engine.cached_engine(net, 0.5, (1, 3, 360, 640), "fp16", ("sm89", "sm86", "sm120")) == key[0]
    assert built == []
    # A tampered engine fails its hash and is rebuilt, never used.
    monkeypatch.undo()
    data = bytearray(key[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    key[0].write_bytes(bytes(data))
    again = trt_engine.cached_engine(net, 0.5, (1, 3, 360, 640), "fp16", ("sm86", "sm89", "sm120"))
    assert again == key[0] and again.read_bytes() != bytes(data)  # rebuilt (builds differ in a few header bytes)
    assert sidecar(again).read_text().strip() == sha256_of(again)


def test_export_onnx_command(home, tmp_path):
    res = run("export", "onnx", "--size", "320x240", "--downsample-ratio", "0.5", "-o", tmp_path / "m.onnx")
    assert res.returncode == 0, res.stderr
    g = onnx.load(str(tmp_path / "m.onnx")).graph
    assert [d.dim_value for d in g.input[0].type.tensor_type.shape.dim] == [1, 3, 240, 320]


@pytest.mark.parametrize("args,hint", [
    (["--size", "640x360", "-o", "{out}/a.plan"], "no GPU here to build for; name the cards with --target"),
    (["--size", "640x360", "--target", "sm90", "-o", "{out}/a.plan"], "--target: 'sm90' is not"),
    (["--size", "640", "--target", "sm86", "-o", "{out}/a.plan"], "--size: '640' is not WIDTHxHEIGHT"),
    (["--size", "640x360", "--target", "sm86", "-o", "{out}/no/a.plan"], "folder"),
])
def test_export_bad_options(tmp_path, args, hint):
    out = tmp_path / "out"
    out.mkdir()
    res = run("export", "tensorrt", *[a.replace("{out}", str(out)) for a in args])
    assert_clean_failure(res, out, hint)


BLOCKED = ("import sys\nsys.modules['tensorrt_rtx'] = None\nsys.modules['tensorrt'] = None\n"
           "from vmatte.cli import main\nsys.exit(main(sys.argv[1:]))\n")


def test_without_either_library_backend_tensorrt_is_one_line(tmp_path, clip):
    src = clip("in.mov", n=3, width=96, height=64, audio=False, timecode=None)
    out = tmp_path / "out"
    out.mkdir()
    res = subprocess.run([sys.executable, "-c", BLOCKED, "convert", str(src), "-o", str(out / "o.mov"),
                          "--backend", "tensorrt"], capture_output=True, text=True, timeout=300)
    res.torch_imported = True
    assert_clean_failure(res, out, "pip install 'vmatte[tensorrt-rtx]' for GeForce/RTX cards")
