"""vmatte.colour against FFmpeg's own conversions of the same frames (swscale through PyAV, with
accurate rounding and full chroma interpolation): YUV -> RGB within 1/255, RGBA -> YUVA 4:4:4 within one
code value at 10 bits; BT.601 and BT.709, limited and full range, 8 and 10 bits, 4:2:0, 4:2:2 and
4:4:4, odd sizes included."""
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


def test_a_flat_grey_round_trips_at_4_2_0():
    """RGB -> 4:2:0 -> RGB of flat colours is exact to rounding (the chroma averaging and the upsampling agree)."""
    rgb = torch.full((3, 9, 17), 0.5)
    rgb[0, :, :8] = 0.8
    fmt = YuvFormat("bt709", False, 10)
    back = yuv_to_rgb(*rgb_to_yuv(rgb, fmt, "420"), fmt)
    assert (back[:, :, :6] - rgb[:, :, :6]).abs().max() < 2 / 1023
    with pytest.raises(ValueError):
        rgb_to_yuv(rgb, fmt, "411")


@pytest.mark.parametrize("target, layout", [("a.mov", "rgba"), ("c.mov", "rgb")])
def test_prores_is_written_at_bt709_levels(tmp_path, target, layout):
    """Through the pipeline's own conversion (pixels.for_sink, then the writer): 1.0 is luma 940 and
    0.5 is 502 in the 10-bit file, alpha 1.0 is 1023, as a standard decoder expects; and the planes
    decoded with vmatte.colour give the picture back."""
    from fractions import Fraction

    from vmatte.io.frames import SourceInfo
    from vmatte.io.sinks import open_sink
    from vmatte.pixels import for_sink

    info = SourceInfo("t", 32, 16, Fraction(25), Fraction(1, 25))
    sink = open_sink(tmp_path / target, layout, info, audio=False)
    picture = torch.ones(1, 4 if layout == "rgba" else 3, 16, 32)
    picture[:, :3, :, 16:] = 0.5
    for i in range(2):
        sink.write(for_sink(picture, sink), i)
    sink.close()
    with av.open(str(tmp_path / target)) as c:
        frame = next(c.decode(video=0))
    planes, bits = _planes(frame), frame.format.components[0].bits  # ProRes 4444 decodes at 12 bits
    shift = 1 << (bits - 10)
    assert planes[0][:, :16].float().mean().item() == pytest.approx(940 * shift, abs=shift)
    assert planes[0][:, 16:].float().mean().item() == pytest.approx(502 * shift, abs=shift)
    if layout == "rgba":
        assert planes[3].min().item() == 1023 * shift  # the encoder takes 10-bit alpha: 1023
    back = yuv_to_rgb(*planes[:3], YuvFormat("bt709", False, bits))
    assert (back - picture[0, :3]).abs().max().item() < 3 / 1023
