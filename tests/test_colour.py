"""vmatte.colour against FFmpeg's own conversions of the same frames (swscale through PyAV, with
accurate rounding and full chroma interpolation): YUV -> RGB within 1/255, RGBA -> YUVA 4:4:4 within one
code value at 10 bits, RGB -> 4:2:0 and 4:2:2 within one code value of swscale's area filter; BT.601 and
BT.709, limited and full range, 8 and 10 bits, odd sizes included. And the planes the compositor hands
the encoders (pixels.to_planes) written and read back."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch
from av.video.reformatter import Interpolation

from vmatte.colour import YuvFormat, rgb_to_yuv, yuv_to_rgb

ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
SPACES = {"bt601": "smpte170m", "bt709": "itu709"}
SIZES = [(64, 36), (63, 35), (17, 9)]


def _picture(w: int, h: int, seed: int = 0, deep: bool = False) -> np.ndarray:
    """Smooth colour fields with a few hard edges: chroma that varies both slowly and sharply."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.random((6, 9, 3)), (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    img[h // 3: h // 2, w // 4: w // 2] = rng.random(3)
    top = 65535 if deep else 255
    return np.round(img * top).astype(np.uint16 if deep else np.uint8)


def _planes(frame: av.VideoFrame) -> list[torch.Tensor]:
    dtype = np.uint16 if frame.format.components[0].bits > 8 else np.uint8
    out = []
    for p in frame.planes:
        a = np.frombuffer(p, dtype).reshape(p.height, p.line_size // np.dtype(dtype).itemsize)[:, :p.width]
        out.append(torch.from_numpy(a.astype(np.int32)))
    return out


@pytest.mark.parametrize("w, h", SIZES)
@pytest.mark.parametrize("chroma", ["420", "422", "444"])
@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_yuv_to_rgb_matches_ffmpeg(matrix, full, bits, chroma, w, h):
    fmt = YuvFormat(matrix, full, bits)
    pix = f"yuv{chroma}p" + ("10le" if bits == 10 else "")
    rng = "JPEG" if full else "MPEG"
    src = av.VideoFrame.from_ndarray(_picture(w, h), format="rgb24")
    yuv = src.reformat(format=pix, dst_colorspace=SPACES[matrix], dst_color_range=rng, interpolation=ACCURATE)
    # 8-bit RGB: swscale's 16-bit RGB output with full chroma interpolation is wrong (off by up to 1.0),
    # and so is its 10-bit full-range decode by up to 1/255 of the source, so mine is compared in 8-bit codes
    want = yuv.reformat(format="rgb24", src_colorspace=SPACES[matrix], src_color_range=rng,
                        interpolation=ACCURATE).to_ndarray().astype(np.float64) / 255
    got = yuv_to_rgb(*_planes(yuv), fmt).permute(1, 2, 0).double().numpy()
    assert got.shape == want.shape
    assert np.abs(np.round(got * 255) - want * 255).max() <= 1  # within one 8-bit code of FFmpeg's


@pytest.mark.parametrize("w, h", SIZES)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_rgba_to_yuva444_10bit_matches_ffmpeg_within_one_code(matrix, full, w, h):
    """From 8-bit RGBA: from 16-bit, swscale takes 65280 as white (10-bit limited white 943, not 940)."""
    rgba = np.dstack([_picture(w, h, 1), _picture(w, h, 2)[..., :1]])
    want = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(
        format="yuva444p10le", dst_colorspace=SPACES[matrix], dst_color_range="JPEG" if full else "MPEG",
        interpolation=ACCURATE)
    t = torch.from_numpy(rgba.astype(np.float32) / 255).permute(2, 0, 1)
    got = rgb_to_yuv(t[:3], YuvFormat(matrix, full, 10), "444", alpha=t[3])
    for name, g, r in zip("YUVA", got, _planes(want)):
        assert (g - r).abs().max().item() <= 1, f"plane {name}"


@pytest.mark.parametrize("w, h", SIZES)
@pytest.mark.parametrize("chroma, pix", [("420", "yuv420p"), ("422", "yuv422p10le"), ("420", "yuv420p10le")])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_rgb_to_subsampled_yuv_matches_ffmpeg_area_filter(matrix, chroma, pix, w, h):
    """Chroma is the average of the 2x2 (4:2:0) or 2x1 (4:2:2) block it covers. At an odd size swscale
    stretches the rounded-up chroma grid over the picture (every sample drifts by up to half a pixel),
    so there FFmpeg converts the picture with its edge pixels repeated to an even size, which is what
    the last block covers here."""
    bits = 10 if "10" in pix else 8
    rgb = _picture(w, h, 3)
    even = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    ref = av.VideoFrame.from_ndarray(even, format="rgb24").reformat(
        format=pix, dst_colorspace=SPACES[matrix], dst_color_range="MPEG",
        interpolation=Interpolation.AREA | Interpolation.ACCURATE_RND)
    t = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)
    got = rgb_to_yuv(t, YuvFormat(matrix, False, bits), chroma)
    for name, g, r in zip("YUV", got, _planes(ref)):
        r = r[:g.shape[0], :g.shape[1]]
        assert g.shape == r.shape, f"plane {name}"
        assert (g - r).abs().max().item() <= 1, f"plane {name}"


def test_a_flat_grey_round_trips_at_4_2_0():
    """RGB -> 4:2:0 -> RGB of flat colours is exact to rounding (the chroma averaging and the upsampling agree)."""
    rgb = torch.full((3, 9, 17), 0.5)
    rgb[0, :, :8] = 0.8
    fmt = YuvFormat("bt709", False, 10)
    back = yuv_to_rgb(*rgb_to_yuv(rgb, fmt, "420"), fmt)
    assert (back[:, :, :6] - rgb[:, :, :6]).abs().max() < 2 / 1023
    with pytest.raises(ValueError):
        rgb_to_yuv(rgb, fmt, "411")


@pytest.mark.parametrize("target, layout", [("a.mov", "rgba"), ("c.mov", "rgb"), ("h.mp4", "rgb"), ("v.webm", "rgba")])
def test_yuv_outputs_are_written_at_bt709_levels(tmp_path, target, layout):
    """Through the pipeline's own conversion (pixels.for_sink hands the writer its encoder's planes): 1.0
    is luma 940 and 0.5 is 502 at 10 bits (235 and 126 at 8), alpha 1.0 is the top code, as a standard
    decoder expects; and the planes decoded with vmatte.colour give the picture back."""
    from fractions import Fraction

    from vmatte.io.frames import SourceInfo
    from vmatte.io.sinks import open_sink
    from vmatte.pixels import for_sink

    info = SourceInfo("t", 32, 32, Fraction(25), Fraction(1, 25))
    sink = open_sink(tmp_path / target, layout, info, audio=False, crf=0)
    assert sink.planes is not None  # the planar path, no swscale
    picture = torch.ones(1, 4 if layout == "rgba" else 3, 32, 32)
    picture[:, :3, :16, 16:] = 0.5
    # colours below: grey and white cannot show a wrong matrix, saturated ones do
    picture[:, :3, 16:, :16] = torch.tensor([0.8, 0.15, 0.1])[:, None, None]
    picture[:, :3, 16:, 16:] = torch.tensor([0.1, 0.3, 0.85])[:, None, None]
    for i in range(2):
        sink.write(for_sink(picture, sink), i)
    sink.close()
    with av.open(str(tmp_path / target)) as c:
        frame = next(c.decode(video=0))
    planes, bits = _planes(frame), frame.format.components[0].bits  # ProRes 4444 decodes at 12 bits
    if target.endswith(".webm"):  # libvpx's alpha rides in a second stream, decoded as yuv420p
        planes.append(_planes(next(_alpha_frames(tmp_path / target)))[0])
    shift = 1 << (bits - 10) if bits >= 10 else 1
    white, grey = (940, 502) if bits >= 10 else (235, 126)
    tol = 1 if bits >= 10 else 1.5 / shift  # 8-bit lossy codecs (crf 0) round within a code
    assert planes[0][:16, :16].float().mean().item() == pytest.approx(white * shift, abs=max(shift, tol))
    assert planes[0][:16, 16:].float().mean().item() == pytest.approx(grey * shift, abs=max(shift, tol))
    # FFmpeg's own BT.709 conversion of the decoded frame gives the colours back (a wrong matrix would not)
    seen = frame.to_ndarray(format="rgb48le", src_colorspace="ITU709", src_color_range="MPEG",
                            interpolation="BILINEAR").astype(np.float64) / 65535
    for rows, cols in ((slice(18, 30), slice(2, 14)), (slice(18, 30), slice(18, 30))):
        want = picture[0, :3, rows, cols].mean((1, 2)).numpy()
        got = seen[rows, cols].reshape(-1, 3).mean(0)
        assert np.abs(got - want).max() < (4 if bits == 8 else 2) / 255, (target, got, want)
    if layout == "rgba":
        top = (1 << bits) - 1  # full scale: 4095 in ProRes's 12-bit decode (prores_aw's 1023 << 2 = 4092 is not)
        assert planes[3].float().mean().item() == pytest.approx(top, abs=0.01)  # full-range alpha at its top
    back = yuv_to_rgb(*planes[:3], YuvFormat("bt709", False, bits))[:, :14]  # the neutral rows, off the chroma edge
    assert (back - picture[0, :3, :14]).abs().max().item() < (3 / 1023 if bits >= 10 else 3 / 255)


def _alpha_frames(path):
    """The alpha of a VP9 WebM: libvpx-vp9 decoding, which reads the alpha side data (FFmpeg's default VP9
    decoder drops it), into yuva420p."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        ctx = av.CodecContext.create("libvpx-vp9", "r")
        for packet in c.demux(s):
            for f in ctx.decode(packet):
                yield _alpha_only(f)


def _alpha_only(frame):
    return av.VideoFrame.from_ndarray(
        np.frombuffer(frame.planes[3], np.uint8).reshape(frame.height, -1)[:, :frame.width].copy(), format="gray")


def test_ffv1_takes_planar_gbra_exactly(tmp_path):
    """FFV1 (lossless) gets G, B, R, A planes from the compositor: the file decodes to the very codes."""
    from fractions import Fraction

    from vmatte.io.frames import SourceInfo
    from vmatte.io.sinks import open_sink
    from vmatte.pixels import for_sink

    info = SourceInfo("t", 33, 17, Fraction(25), Fraction(1, 25))
    sink = open_sink(tmp_path / "a.mkv", "rgba", info, audio=False)
    picture = torch.from_numpy(_picture(33, 17, 4, deep=True).astype(np.float32) / 65535).permute(2, 0, 1)[None]
    picture = torch.cat([picture, picture[:, :1].flip(-1)], 1)
    sink.write(for_sink(picture, sink), 0)
    sink.close()
    with av.open(str(tmp_path / "a.mkv")) as c:
        got = next(c.decode(video=0)).to_ndarray(format="rgba64le")
    want = np.round(picture[0].permute(1, 2, 0).numpy() * 65535).astype(np.uint16)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("encoder", ["ks", "aw"])
def test_prores_alpha_keeps_more_than_8_bits(tmp_path, encoder):
    """A smooth alpha ramp through ProRes 4444 decodes with over 900 distinct levels (10 bits reach the file;
    an 8-bit alpha would give at most 256), each within a 10-bit step of what was written."""
    from fractions import Fraction

    from vmatte.io.frames import SourceInfo
    from vmatte.io.sinks import open_sink
    from vmatte.pixels import for_sink

    info = SourceInfo("t", 1024, 16, Fraction(25), Fraction(1, 25))
    sink = open_sink(tmp_path / "a.mov", "rgba", info, audio=False, prores_encoder=encoder)
    picture = torch.full((1, 4, 16, 1024), 0.5)
    picture[:, 3] = torch.linspace(0, 1, 1024)
    sink.write(for_sink(picture, sink), 0)
    sink.close()
    with av.open(str(tmp_path / "a.mov")) as c:
        frame = next(c.decode(video=0))
    alpha = _planes(frame)[3].float() / 4095
    assert len(torch.unique(alpha[8])) > 900
    assert (alpha[8] - picture[0, 3, 8]).abs().max().item() < 1.5 / 1023
