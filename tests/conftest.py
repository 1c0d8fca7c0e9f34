"""Shared fixtures: the real model, the reference export in ONNX Runtime, generated and real media."""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for samples.make_sample
MEDIA = ROOT.parent / "shared" / "media"


def media(rel: str) -> Path:
    """A file under ../shared/media, or skip the test with the reason."""
    p = MEDIA / rel
    if not p.exists():
        pytest.skip(f"real test media not present ({p}); run beside ../shared to include it")
    return p


def person_frames(n: int, width: int = 320, height: int = 240, seed: int = 0) -> list[np.ndarray]:
    """Generated frames: a textured background and a moving head-and-shoulders figure (RGB uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width].astype(np.float32)
    base = np.stack([x / width, y / height, 0.5 + 0.2 * np.sin(x / 13) * np.cos(y / 17)], -1)
    noise = rng.normal(0, 0.03, (height, width, 3)).astype(np.float32)
    frames = []
    for i in range(n):
        cx = width * (0.5 + 0.1 * np.sin(i / 6))
        head = ((x - cx) / (0.12 * width)) ** 2 + ((y - 0.35 * height) / (0.16 * height)) ** 2 < 1
        body = (((x - cx) / (0.3 * width)) ** 2 + ((y - 1.05 * height) / (0.5 * height)) ** 2) < 1
        img = base.copy() + noise
        img[head] = (0.85, 0.65, 0.55)
        img[body] = (0.2, 0.25, 0.6)
        frames.append((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return frames


@pytest.fixture(scope="session")
def model():
    import vmatte

    return vmatte.load_model("rvm-mobilenetv3", device="cpu")


@pytest.fixture(scope="session")
def reference():
    """The official export in ONNX Runtime: reference(frames, ratio) -> list of (fgr, pha) numpy arrays."""
    ort = pytest.importorskip("onnxruntime")
    from vmatte.weights import reference_onnx

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(reference_onnx()), so, providers=["CPUExecutionProvider"])

    def run(frames: list[np.ndarray], ratio: float) -> list[tuple[np.ndarray, np.ndarray]]:
        rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4
        out = []
        for f in frames:
            src = (f.astype(np.float32) / (255 if f.dtype == np.uint8 else 65535)).transpose(2, 0, 1)[None]
            fgr, pha, *rec = sess.run(None, {"src": src, "r1i": rec[0], "r2i": rec[1], "r3i": rec[2],
                                             "r4i": rec[3], "downsample_ratio": np.array([ratio], np.float32)})
            out.append((fgr, pha))
        return out

    return run


@pytest.fixture
def out(tmp_path):
    """An empty output folder; inputs go beside it, so leftovers in it are the command's own."""
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture
def clip(tmp_path):
    """Factory for generated clips: clip(name, n=..., fps=..., audio=..., timecode=..., **write_clip kwargs)."""
    from samples.make_sample import write_clip

    def make(name: str = "in.mov", n: int = 12, fps: Fraction = Fraction(30000, 1001), width: int = 320,
             height: int = 240, **kw) -> Path:
        p = tmp_path / name
        write_clip(p, person_frames(n, width, height), fps=fps, **kw)
        return p

    return make
