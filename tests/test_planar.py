"""Frames kept in their YUV planes (for an engine on a GPU): the conversion on the device against
FFmpeg's own conversion of the same decoded frames, the stream's matrix, range, depth and chroma siting
found, the planes through the pipeline, and NVDEC's fallback. Here the planes are converted on the CPU
(the same torch code); the CUDA cases, NVDEC among them, run where there is a GPU."""
from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from av.video.reformatter import Interpolation

from tests.conftest import media, person_frames
from vmatte.colour import YuvImage
from vmatte.io import planar
from vmatte.io.video_source import VideoFileSource
from vmatte.pixels import to_tensor

ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
CPU = torch.device("cpu")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def _ffmpeg_rgb(path, n: int) -> list[np.ndarray]:
    """The first n frames as FFmpeg converts them (accurate rounding, full chroma interpolation), 0..255."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24", interpolation=ACCURATE).astype(np.float32)
                for _, f in zip(range(n), c.decode(video=0))]


def _planar_rgb(path, n: int, device=CPU) -> tuple[list[np.ndarray], VideoFileSource]:
    src = VideoFileSource(path, planes=True)
    out = []
    for _, f in zip(range(n), src.frames()):
        assert isinstance(f.image, YuvImage)
        out.append(to_tensor(f.image, device, torch.float32)[0].permute(1, 2, 0).cpu().numpy() * 255)
    src.close()
    return out, src


def _clip(path, codec: str, pix_fmt: str, options: dict | None = None, width: int = 96, height: int = 64,
          n: int = 4) -> None:
    from samples.make_sample import write_clip

    write_clip(path, person_frames(n, width, height), fps=Fraction(25), audio=False, timecode=None, codec=codec,
               pix_fmt=pix_fmt, options=options)


CASES = [  # codec, pixel format, options, what the decoder tags
    ("libx264", "yuv420p", {}, "bt601 limited, left-sited (untagged H.264)"),
    ("libx264", "yuv420p", {"x264-params": "colormatrix=bt709:range=tv"}, "bt709 limited"),
    ("libx264", "yuv420p", {"x264-params": "colormatrix=bt709:range=pc"}, "bt709 full"),
    ("libx264", "yuv420p10le", {"x264-params": "colormatrix=bt709"}, "10-bit 4:2:0"),
    ("libx264", "yuv422p10le", {"x264-params": "colormatrix=bt709"}, "10-bit 4:2:2"),
    ("libx264", "yuv444p", {"x264-params": "colormatrix=bt2020nc"}, "4:4:4, BT.2020"),
    ("libx264", "yuv420p10le", {"x264-params": "colormatrix=bt2020nc:chromaloc=2"}, "BT.2020, top-left sited"),
    ("mjpeg", "yuvj420p", {}, "JPEG: full range, centre-sited"),
    ("prores_ks", "yuv422p10le", {"profile": "3"}, "ProRes 422 HQ"),
]


@pytest.mark.parametrize("codec, pix_fmt, options, what", CASES, ids=[c[3] for c in CASES])
def test_planes_convert_as_ffmpeg_does(tmp_path, codec, pix_fmt, options, what):
    """Every frame within one 8-bit code of FFmpeg's accurate conversion (the bar: 1/255)."""
    path = tmp_path / ("c.mkv" if codec != "prores_ks" else "c.mov")
    _clip(path, codec, pix_fmt, options)
    want = _ffmpeg_rgb(path, 4)
    got, src = _planar_rgb(path, 4)
    assert len(got) == len(want) == 4
    for g, w in zip(got, want):
        assert np.abs(np.round(g) - w).max() <= 1, what
    if pix_fmt != "yuv444p":  # H.264 tags its chroma left; FFmpeg's MJPEG and ProRes decoders leave the centre
        assert src.siting == ("topleft" if "top-left" in what else "left" if codec == "libx264" else "centre")


@pytest.mark.parametrize("layout", ["nv12", "p010le"])
def test_interleaved_chroma_planes(layout):
    """NVDEC's own layouts (one interleaved UV plane; P010's samples in the high bits) through the same path,
    made here by swscale from a decoded frame."""
    frame = av.VideoFrame.from_ndarray(person_frames(1, 64, 48)[0], format="rgb24").reformat(
        format=layout, dst_colorspace="itu709", dst_color_range="MPEG", interpolation=ACCURATE)
    frame.colorspace = 1
    image = planar.yuv_image(frame, "centre")
    assert len(image.planes) == 2 and image.planes[1].shape == (24, 32, 2)
    want = frame.to_ndarray(format="rgb24", interpolation=ACCURATE).astype(np.float32)
    got = to_tensor(image, CPU, torch.float32)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(np.round(got) - want).max() <= 1


def test_real_clips_convert_as_ffmpeg_does():
    for name in ("intel_asl_sister.mkv", "intel_one-by-one-person-detection.mp4"):
        path = media(f"videos/{name}")
        want = _ffmpeg_rgb(path, 30)
        got, _ = _planar_rgb(path, 30)
        worst = max(np.abs(np.round(g) - w).max() for g, w in zip(got, want))
        assert worst <= 1, name


def test_a_planar_source_mattes_as_ffmpeg_rgb_does(tmp_path, model):
    """The network gets the picture FFmpeg's accurate conversion makes (to within its 8-bit rounding), so
    the mattes agree; and the cut detector finds the same cut in the planes as in RGB."""
    from samples.make_sample import write_clip
    from vmatte.engine import Matter
    from vmatte.scenecut import CutDetector

    frames = person_frames(8, 160, 96) + person_frames(4, 160, 96, seed=5)
    frames[8:] = [np.ascontiguousarray(255 - f[:, ::-1]) for f in frames[8:]]  # another shot
    path = tmp_path / "c.mp4"
    write_clip(path, frames, fps=Fraction(25), audio=False, timecode=None)
    rgb = [np.round(a).astype(np.uint8) for a in _ffmpeg_rgb(path, 12)]
    with VideoFileSource(path, planes=True) as src:
        planes = [f.image for f in src.frames()]
    mattes, cuts = [], []
    for pictures in (rgb, planes):
        m, det = Matter(model, 0.5, "torch"), CutDetector()
        out = [(m(p).pha, det(p)) for p in pictures]
        mattes.append(torch.cat([a for a, _ in out]))
        cuts.append([i for i, (_, c) in enumerate(out) if c])
    assert (mattes[0] - mattes[1]).abs().mean().item() < 5e-4
    assert cuts[0] == cuts[1] == [8]


@pytest.mark.parametrize("layout", ["yuv420p", "yuv420p10le", "nv12", "p010le"])
def test_mirror_and_rotation_of_planes_match_the_rgb_picture(layout):
    """A phone's rotated clip and live's selfie mirror, on 8-bit, 10-bit (uint16: torch cannot flip it) and
    NVDEC's interleaved planes: the same picture as the upright conversion turned and flipped by numpy,
    left-sited chroma included (turning happens after conversion, so the siting stays the decoder's).
    The upright conversion itself is held to FFmpeg's by the tests above."""
    frame = av.VideoFrame.from_ndarray(person_frames(1, 64, 48)[0], format="rgb24").reformat(
        format=layout, interpolation=ACCURATE)
    image = planar.yuv_image(frame, "left")

    def picture(img):
        return to_tensor(img, CPU, torch.float32)[0].permute(1, 2, 0).numpy()

    upright = picture(image)
    for turns in range(4):
        want = np.rot90(upright, turns)
        turned = image.rotated(turns)
        assert turned.shape == want.shape
        assert np.abs(picture(turned) - want).max() < 1e-6
        assert np.abs(picture(turned.mirrored()) - want[:, ::-1]).max() < 1e-6
        # turning a mirrored picture turns what is seen, as a person holding the phone would
        assert np.abs(picture(turned.mirrored().rotated(1)) - np.rot90(want[:, ::-1], 1)).max() < 1e-6
        thumb = turned.thumbnail(8, 6) if turns % 2 == 0 else turned.thumbnail(6, 8)
        assert thumb.shape[1:] == ((6, 8) if turns % 2 == 0 else (8, 6))
    assert image.mirrored().mirrored() == image


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_a_phones_rotated_clip_comes_upright_from_its_planes(tmp_path, pix_fmt):
    """The display matrix of a phone held upright, on 8-bit and 10-bit H.264: the planes' picture equals
    FFmpeg's RGB of the same file, turned the same way, frame for frame."""
    from tests.test_convert import with_display_matrix

    plain, turned = tmp_path / "plain.mov", tmp_path / "turned.mov"
    _clip(plain, "libx264", pix_fmt, {"x264-params": "colormatrix=bt709"}, width=96, height=64)
    with_display_matrix(plain, turned, (0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30))
    got, src = _planar_rgb(turned, 4)
    assert (src.info.width, src.info.height) == (64, 96)
    want = [np.rot90(w, -1) for w in _ffmpeg_rgb(plain, 4)]
    assert len(got) == len(want) == 4 and got[0].shape == (96, 64, 3)
    assert max(np.abs(np.round(g) - w).max() for g, w in zip(got, want)) <= 1


def test_without_a_gpu_nvdec_falls_back_with_one_line_at_verbose(tmp_path, caplog):
    """No CUDA driver here: opening for NVDEC gives None and says why at INFO (-v), nothing by default."""
    path = tmp_path / "c.mp4"
    _clip(path, "libx264", "yuv420p")
    with caplog.at_level(logging.INFO, logger="vmatte"):
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU: the NVDEC cases below run instead")
        assert planar.open_nvdec(str(path), 0, {}) is None
    lines = [r for r in caplog.records if r.name == "vmatte"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO and "decoding on the CPU" in lines[0].getMessage()


def test_nvdec_refuses_what_it_cannot_decode(tmp_path):
    _clip(tmp_path / "p.mov", "prores_ks", "yuv422p10le", {"profile": "3"})
    _clip(tmp_path / "odd.mp4", "libx264", "yuv444p", width=97, height=65)
    _clip(tmp_path / "ok.mp4", "libx264", "yuv420p")
    for name, why in (("p.mov", "does not decode prores"), ("odd.mp4", "odd size"), ("ok.mp4", None)):
        with av.open(str(tmp_path / name)) as c:
            refusal = planar.nvdec_refusal(c.streams.video[0])
        assert (refusal is None) if why is None else why in refusal


@CUDA
def test_nvdec_frames_stay_on_the_gpu_and_convert_as_ffmpeg_does(tmp_path, caplog):
    missing = planar.nvdec_library_missing()
    if missing:
        pytest.skip(f"this GPU host has no NVDEC: {missing}")
    path = tmp_path / "c.mp4"
    _clip(path, "libx264", "yuv420p", {"x264-params": "colormatrix=bt709"}, 320, 240, 8)
    want = _ffmpeg_rgb(path, 8)
    with caplog.at_level(logging.INFO, logger="vmatte"):
        src = VideoFileSource(path, device=torch.device("cuda"))
        frames = list(src.frames())
        src.close()
    assert src.nvdec is not None, caplog.text  # NVDEC opened
    assert not src.nvdec.said, caplog.text  # and it decoded every frame itself
    assert all(isinstance(f.image, YuvImage) and f.image.planes[0].is_cuda for f in frames)
    for f, w in zip(frames, want):
        got = to_tensor(f.image, torch.device("cuda"), torch.float32)[0].permute(1, 2, 0).cpu().numpy() * 255
        assert np.abs(np.round(got) - w).max() <= 1


@CUDA
def test_cpu_planes_upload_and_convert_on_the_gpu(tmp_path):
    """Software-decoded planes (a format NVDEC does not take) go up through the pinned buffers, 16-bit too."""
    path = tmp_path / "c.mov"
    _clip(path, "prores_ks", "yuv422p10le", {"profile": "3"})
    want = _ffmpeg_rgb(path, 4)
    got, _ = _planar_rgb(path, 4, torch.device("cuda"))
    for g, w in zip(got, want):
        assert np.abs(np.round(g) - w).max() <= 1


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_the_allocator_is_set_once_unless_the_user_set_it():
    """glibc's thresholds are set by the drivers (vmatte.memory), and left alone where the user set theirs."""
    import subprocess
    import sys

    code = "from vmatte.memory import tune_allocator as t; print(t(), t())"
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("MALLOC_", "VMATTE_DEFAULT"))}
    ours = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=base, check=True)
    theirs = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**base, "MALLOC_TRIM_THRESHOLD_": "1000000"})
    assert ours.stdout.split() == ["True", "True"]
    assert theirs.stdout.split() == ["False", "False"]


# The planar path's self-check (issue 25): a fault anywhere on it sends the clip down the CPU path, whose
# frames are swscale's own, with one line at -v. The faults are injected into the same torch code a GPU runs.

def _wrong_matrix(monkeypatch):
    monkeypatch.setitem(planar.AVCOL_SPC, 1, "bt2020")  # a BT.709 stream read as BT.2020


def _wrong_siting(monkeypatch):
    monkeypatch.setattr(planar, "chroma_siting", lambda want, image, default: "topleft")


def _shifted_plane(monkeypatch):
    real = planar.yuv_image

    def shifted(frame, siting="left"):
        image = real(frame, siting)
        y, u, v = image.planes
        return YuvImage((y, torch.roll(u, 1, 1), v), image.fmt, image.shift)

    monkeypatch.setattr(planar, "yuv_image", shifted)


def _one_tile_lost(monkeypatch):
    """One 8x8-pixel tile whose chroma never arrived (a partial copy): small on average, wrong where it is."""
    real = planar.yuv_image

    def torn(frame, siting="left"):
        image = real(frame, siting)
        y, u, v = image.planes
        u = u.clone()
        u[:4, :4] = 0
        return YuvImage((y, u, v), image.fmt, image.shift)

    monkeypatch.setattr(planar, "yuv_image", torn)


def _dlpack_raises(monkeypatch):
    def boom(*a, **k):
        raise BufferError("DLPack export refused")

    monkeypatch.setattr(torch, "from_dlpack", boom)


def _conversion_raises(monkeypatch):
    import vmatte.colour

    def boom(*a, **k):
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore")

    monkeypatch.setattr(vmatte.colour, "yuv_to_rgb", boom)


FAULTS = {"wrong matrix": _wrong_matrix, "wrong siting": _wrong_siting, "shifted plane": _shifted_plane,
          "one tile lost": _one_tile_lost, "DLPack raises": _dlpack_raises, "conversion raises": _conversion_raises}


def _fault_clip(path) -> list[np.ndarray]:
    """A BT.709 H.264 clip with colour detail, and its frames as the CPU path gives them (swscale's rgb24)."""
    _clip(path, "libx264", "yuv420p", {"x264-params": "colormatrix=bt709"}, 96, 64, 6)
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _vmatte_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "vmatte"]


def test_unfaulted_planes_pass_their_check_silently(tmp_path, caplog):
    path = tmp_path / "c.mp4"
    _fault_clip(path)
    with caplog.at_level(logging.INFO, logger="vmatte"), VideoFileSource(path, planes=True) as src:
        frames = [f.image for f in src.frames()]
    assert src.checked and all(isinstance(f, YuvImage) for f in frames)
    assert _vmatte_lines(caplog) == []


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_on_the_planar_path_falls_back_to_the_cpu_for_the_clip(tmp_path, caplog, monkeypatch, fault):
    """Caught on the first frame, before anything is matted: every frame is then the CPU path's, exactly."""
    path = tmp_path / "c.mp4"
    want = _fault_clip(path)
    FAULTS[fault](monkeypatch)
    with caplog.at_level(logging.INFO, logger="vmatte"), VideoFileSource(path, planes=True) as src:
        got = [f.image for f in src.frames()]
    assert len(got) == len(want) == 6
    assert all(isinstance(g, np.ndarray) and np.array_equal(g, w) for g, w in zip(got, want)), fault
    lines = _vmatte_lines(caplog)
    assert len(lines) == 1 and lines[0].levelno == logging.INFO, [r.getMessage() for r in lines]
    assert "on the CPU" in lines[0].getMessage() and "\n" not in lines[0].getMessage()


def test_a_fault_after_the_first_frame_converts_the_rest_on_the_cpu(tmp_path, caplog, monkeypatch):
    path = tmp_path / "c.mp4"
    want = _fault_clip(path)
    real, calls = torch.from_dlpack, []

    def fails_from_frame_3(*a, **k):
        calls.append(1)
        if len(calls) > 6:  # three planes a frame
            raise BufferError("DLPack export refused")
        return real(*a, **k)

    monkeypatch.setattr(torch, "from_dlpack", fails_from_frame_3)
    with caplog.at_level(logging.INFO, logger="vmatte"), VideoFileSource(path, planes=True) as src:
        got = [f.image for f in src.frames()]
    assert [type(g).__name__ for g in got] == ["YuvImage"] * 2 + ["ndarray"] * 4
    assert all(np.array_equal(g, w) for g, w in zip(got[2:], want[2:]))
    assert len(_vmatte_lines(caplog)) == 1


class _FailingDecode:
    """A container standing in for NVDEC's whose decoding fails (a surface the driver refuses)."""

    def __init__(self, container) -> None:
        self._c = container

    def __getattr__(self, name):
        return getattr(self._c, name)

    def demux(self, *streams):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")


@pytest.mark.parametrize("fault", ["decode raises", "wrong matrix", "DLPack raises"])
def test_nvdecs_first_frame_failing_reopens_the_clip_on_the_cpu(tmp_path, caplog, monkeypatch, fault):
    """The NVDEC case, up to the hardware: open_nvdec hands over a container (here a CPU one, as no NVDEC
    exists on this machine); a fault on its first picture reopens the file for the CPU before any frame
    is handed on, and the clip is whole and right."""
    path = tmp_path / "c.mp4"
    want = _fault_clip(path)
    opened = []

    def fake_nvdec(spec, device, options):
        c = av.open(spec, **options)
        opened.append(c)
        return _FailingDecode(c) if fault == "decode raises" else c

    monkeypatch.setattr(planar, "open_nvdec", fake_nvdec)
    monkeypatch.setattr(planar, "SoftwareNote", lambda codec: lambda frame: None)  # its frames are software ones
    if fault != "decode raises":
        FAULTS[fault](monkeypatch)
    with caplog.at_level(logging.INFO, logger="vmatte"), VideoFileSource(path, planes=True, nvdec=True) as src:
        assert src.nvdec is None and not src.planar
        got = [f.image for f in src.frames()]
    assert len(opened) == 1
    assert len(got) == 6 and all(np.array_equal(g, w) for g, w in zip(got, want))
    lines = _vmatte_lines(caplog)
    assert len(lines) == 1 and "first frame" in lines[0].getMessage(), [r.getMessage() for r in lines]
