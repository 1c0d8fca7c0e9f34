"""vmatte.convert: every writer read back with PyAV and compared with the network's own output."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

import vmatte.dispatch as vc
from conftest import media, person_frames
from readback import decode, decode_vp9_alpha, reference_mattes, video_pts
from samples.make_sample import write_clip

RATIO = 0.5


def convert(src, **kw):
    """vmatte.convert with plain frame-by-frame matting, so outputs compare with `reference_mattes`."""
    kw.setdefault("downsample_ratio", RATIO)
    kw.setdefault("warmup", 0)
    kw.setdefault("scene_cuts", "ignore")
    kw.setdefault("device", "cpu")
    kw.setdefault("progress", False)
    return vc.convert(src, **kw)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """12 generated frames at 29.97 fps with AAC audio and a timecode, in a .mov."""
    p = tmp_path_factory.mktemp("src") / "talk.mov"
    write_clip(p, person_frames(12, 320, 240))
    return p


@pytest.fixture(scope="module")
def ref(model, source):
    return reference_mattes(model, source, RATIO)


def err(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = np.abs(a.astype(np.float64) - b)
    return float(d.mean()), float(d.max())


def test_prores_4444_rgba(source, ref, tmp_path):
    out = tmp_path / "o.mov"
    s = convert(source, rgba=out)
    assert s.frames == 12
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "prores" and v.codec_tag == "ap4h"
        assert v.codec_context.pix_fmt.startswith("yuva444p")
    frames = decode(out, "rgba64le")
    assert len(frames) == 12
    for (fgr, pha), got in zip(ref, frames):
        got = got / 65535
        a_mean, a_max = err(got[..., 3], pha)
        assert a_mean < 0.5 / 255 and a_max < 3 / 255
        c_mean, _ = err(got[..., :3], fgr)
        assert c_mean < 1 / 255  # 10-bit 4:4:4, lossy: colour is the predicted foreground
    assert ref[0][1].std() > 0.05  # a real matte, not an empty one


@pytest.mark.parametrize("encoder", ["ks", "aw"])
def test_both_prores_encoders_write_4444_alpha(source, ref, tmp_path, encoder):
    out = tmp_path / f"{encoder}.mov"
    convert(source, rgba=out, prores_encoder=encoder)
    got = decode(out, "rgba64le")[5] / 65535
    assert err(got[..., 3], ref[5][1])[0] < 0.5 / 255


def test_webm_vp9_alpha(source, ref, tmp_path):
    out = tmp_path / "o.webm"
    convert(source, rgba=out)
    frames = decode_vp9_alpha(out)
    assert len(frames) == 12
    for (_, pha), got in zip(ref, frames):
        a_mean, _ = err(got[..., 3] / 255, pha)
        assert a_mean < 3 / 255


@pytest.mark.parametrize("depth", [8, 16])
def test_png_sequence_rgba(source, ref, tmp_path, depth):
    out = tmp_path / "seq" / "o_%06d.png"
    convert(source, rgba=out, bit_depth=depth)
    names = sorted(p.name for p in (tmp_path / "seq").iterdir())
    assert names == [f"o_{i:06d}.png" for i in range(12)]
    frames = decode(out, "rgba64le" if depth == 16 else "rgba", colorspace=None)
    assert len(frames) == 12
    peak = 65535 if depth == 16 else 255
    for (fgr, pha), got in zip(ref, frames):
        got = got / peak
        assert err(got[..., 3], pha)[1] <= 0.51 / peak
        assert err(got[..., :3], fgr)[1] <= 0.51 / peak


@pytest.mark.parametrize("name", ["m.mkv", "m_%04d.png"])
def test_lossless_matte(source, ref, tmp_path, name):
    out = tmp_path / name
    convert(source, matte=out)
    frames = decode(out, "gray16le", colorspace=None)
    assert len(frames) == 12
    for (_, pha), got in zip(ref, frames):
        assert err(got / 65535, pha)[1] <= 0.51 / 65535


def test_ffv1_rgba_is_lossless(source, ref, tmp_path):
    out = tmp_path / "o.mkv"
    convert(source, rgba=out)
    got = decode(out, "rgba64le", colorspace=None)[3] / 65535
    assert err(got[..., 3], ref[3][1])[1] <= 0.51 / 65535
    assert err(got[..., :3], ref[3][0])[1] <= 0.51 / 65535


def test_composite_over_colour_and_foreground(source, ref, tmp_path):
    comp, fg = tmp_path / "c.mp4", tmp_path / "f_%03d.png"
    convert(source, composite=comp, background="#0000ff", foreground=fg)
    frames = decode(comp, "rgb24")
    assert len(frames) == 12
    blue = np.array([0, 0, 1.0])
    for (fgr, pha), got in zip(ref, frames):
        want = fgr * pha[..., None] + blue * (1 - pha[..., None])
        assert err(got / 255, want)[0] < 3 / 255  # H.264 4:2:0 at crf 18
    fgs = decode(fg, "rgb24", colorspace=None)
    assert err(fgs[0] / 255, ref[0][0])[1] <= 0.51 / 255


def test_output_shorthand_picks_by_extension(source, tmp_path):
    convert(source, output=tmp_path / "a.webm")
    convert(source, output=tmp_path / "b.mp4", background="blur:5")
    with av.open(str(tmp_path / "a.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
    with av.open(str(tmp_path / "b.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_timing_audio_and_timecode_are_kept(source, tmp_path):
    out = tmp_path / "o.mov"
    convert(source, rgba=out)
    src_t, src_rate = video_pts(source)
    out_t, out_rate = video_pts(out)
    assert out_t == src_t and out_rate == src_rate == Fraction(30000, 1001)
    with av.open(str(source)) as a, av.open(str(out)) as b:
        assert b.streams.video[0].metadata.get("timecode") == "01:00:00:00"
        sa, sb = a.streams.audio[0], b.streams.audio[0]
        assert sb.codec_context.name == "aac" and sb.codec_context.sample_rate == sa.codec_context.sample_rate
        # The video starts at 0 in the output; audio keeps its place relative to it.
        start = min(s.start_time * s.time_base for s in (a.streams.video[0], sa) if s.start_time is not None)
        pa = [(p.pts * sa.time_base - start, bytes(p)) for p in a.demux(sa) if p.size]
        pb = [(p.pts * sb.time_base, bytes(p)) for p in b.demux(sb) if p.size]
    assert len(pa) > 10 and pa == pb  # copied packet for packet, each at its own time


def test_audio_is_transcoded_where_the_container_cannot_copy(source, tmp_path):
    out = tmp_path / "o.webm"
    convert(source, rgba=out)
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "opus"
        frames = list(c.decode(a))
    seconds = sum(f.samples for f in frames) / frames[0].sample_rate
    assert abs(seconds - 12 * 1001 / 30000) < 0.1


def test_no_audio_drops_it(source, tmp_path):
    out = tmp_path / "o.mov"
    convert(source, rgba=out, audio=False)
    with av.open(str(out)) as c:
        assert not c.streams.audio


def test_variable_frame_rate_timestamps_pass_through(tmp_path):
    src = tmp_path / "vfr.mkv"
    pts = [0, 33, 70, 100, 180, 200, 260, 300]
    write_clip(src, person_frames(len(pts), 160, 128), fps=Fraction(30), pts=pts, time_base=Fraction(1, 1000),
               timecode=None)
    out = tmp_path / "vfr.mov"
    convert(src, rgba=out)
    assert video_pts(out)[0] == [Fraction(p, 1000) for p in pts]


def test_ten_bit_source_and_odd_size(tmp_path, model):
    src = tmp_path / "ten.mkv"
    write_clip(src, [f[:121, :161] for f in person_frames(4, 162, 122)], codec="ffv1",
               pix_fmt="yuv444p10le", audio=False, timecode=None)
    with vc.open_source(src) as s:
        assert s.info.bit_depth == 10 and (s.info.width, s.info.height) == (161, 121)
        first = next(s.frames()).image
        assert first.dtype == np.uint16
    out, comp = tmp_path / "o.mov", tmp_path / "c.mp4"
    convert(src, rgba=out, composite=comp)
    assert decode(out, "rgba64le")[0].shape == (121, 161, 4)
    assert decode(comp, "rgb24")[0].shape == (121, 161, 3)


def test_image_sequence_input(tmp_path, source, ref, model):
    seq = tmp_path / "in"
    convert(source, foreground=seq / "f_%04d.png")  # any PNG sequence will do as input
    out = tmp_path / "o_%04d.png"
    s = convert(seq, rgba=out, fps=30, warmup=0, scene_cuts="ignore")
    assert s.frames == 12
    assert len(list(tmp_path.glob("o_*.png"))) == 12
    from vmatte.engine import Matter
    from vmatte.io.sequences import read_image

    m = Matter(model, 0.5)  # the same images matted here, in order, must give the same alpha
    for i in range(12):
        want = m(read_image(seq / f"f_{i:04d}.png")).pha[0, 0].numpy()
        got = decode(tmp_path / f"o_{i:04d}.png", "rgba", colorspace=None)[0][..., 3] / 255
        assert np.abs(got - want).max() <= 0.51 / 255 + 1e-4


def test_real_clip_to_prores(model, tmp_path):
    src = media("videos/intel_asl_walk.mkv")
    out = tmp_path / "walk.mov"
    s = convert(src, rgba=out, downsample_ratio="auto")
    got = decode(out, "rgba64le")
    ref = reference_mattes(model, src, 270 / 480)
    assert len(got) == len(ref) == s.frames
    means = [err(g[..., 3] / 65535, p)[0] for g, (_, p) in zip(got, ref)]
    assert max(means) < 1.5 / 255


def with_display_matrix(src, dst, matrix):
    """Copy a .mov, setting its video track header's display matrix (how phones mark rotation)."""
    import struct

    data = bytearray(src.read_bytes())
    i = data.find(b"tkhd")
    assert data[i + 4] == 0  # version 0 layout
    at = i + 4 + 1 + 3 + 4 + 4 + 4 + 4 + 4 + 8 + 2 + 2 + 2 + 2
    data[at: at + 36] = struct.pack(">9i", *matrix)
    dst.write_bytes(bytes(data))


def test_rotation_metadata_is_applied(tmp_path, model):
    plain = tmp_path / "plain.mov"
    write_clip(plain, person_frames(3, 160, 120), audio=False, timecode=None)
    turned = tmp_path / "turned.mov"
    with_display_matrix(plain, turned, (0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30))  # a phone held upright
    with av.open(str(turned)) as c:
        assert next(c.decode(video=0)).rotation == -90  # FFmpeg sees it: shown 90 degrees clockwise
    with vc.open_source(turned) as s:
        assert (s.info.width, s.info.height) == (120, 160)
        upright = next(s.frames()).image
    with av.open(str(plain)) as c:
        raw = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(upright, np.rot90(raw, -1))  # clockwise, as players show it
    out = tmp_path / "o.mov"
    convert(turned, rgba=out)
    assert decode(out, "rgba64le")[0].shape == (160, 120, 4)


@pytest.mark.parametrize("name,codec", [("c.mov", "prores"), ("c.webm", "vp9"), ("c.mkv", "h264")])
def test_composite_in_every_container(source, ref, tmp_path, name, codec):
    out = tmp_path / name
    convert(source, composite=out, background="white")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == codec
    frames = decode(out, "rgb24")
    assert len(frames) == 12
    fgr, pha = ref[6]
    want = fgr * pha[..., None] + (1 - pha[..., None])
    assert err(frames[6] / 255, want)[0] < 3 / 255


def test_one_clip_into_a_new_folder(source, tmp_path):
    out = tmp_path / "new" / "deeper"
    s = convert(source, rgba=f"{out}/", matte=f"{out}/")
    assert s.frames == 12
    assert sorted(p.name for p in out.iterdir()) == ["talk.mkv", "talk.mov"]


@pytest.mark.parametrize("encoder", ["aw", "ks"])
def test_prores_pool_matches_single_encoder(tmp_path, encoder):
    """ProRes frames encoded on a pool of threads come out in order and byte-identical to one
    encoder's, with the source's timestamps (the pool only changes where frames are encoded)."""

    from vmatte.io.encoding import prores_4444
    from vmatte.io.frames import SourceInfo
    from vmatte.io.video_writer import VideoWriter

    rng = np.random.default_rng(3)
    frames = []
    for i in range(13):  # distinct frames, so any reordering shows
        img = np.zeros((96, 128, 4), np.uint16)
        img[..., :3] = (rng.random((12, 16, 3)) * 65535).astype(np.uint16).repeat(8, 0).repeat(8, 1)
        img[..., 3] = np.linspace(0, 65535, 128, dtype=np.uint16)[None] if i % 2 else 65535 - i * 3000
        frames.append(img)
    info = SourceInfo("x", 128, 96, Fraction(30000, 1001), Fraction(1, 30000))
    packets = {}
    for workers in (0, 4):
        out = tmp_path / f"w{workers}.mov"
        w = VideoWriter(out, prores_4444(encoder), info, audio=False, workers=workers)
        assert (w.pool is not None) == (workers > 0)
        for i, img in enumerate(frames):
            w.write(img, i * 1001)
        w.close()
        with av.open(str(out)) as c:
            s = c.streams.video[0]
            packets[workers] = [(p.pts * s.time_base, bytes(p)) for p in c.demux(s) if p.size]
    assert len(packets[4]) == len(frames)
    assert [t for t, _ in packets[4]] == [Fraction(i * 1001, 30000) for i in range(len(frames))]
    assert packets[4] == packets[0]
    back = decode(tmp_path / "w4.mov", "rgba64le")
    assert len(back) == len(frames)
    for got, want in zip(back, frames):
        assert np.abs(got[..., 3].astype(int) - want[..., 3]).max() < 128  # alpha within 1/512 (12-bit decode)
