"""Decoded frames kept in their own YUV planes for an engine on a GPU, and NVDEC where it can decode.

With a CUDA engine a video source hands on colour.YuvImage pictures instead of swscale's RGB: the
planes (8 or 16 bits, a half or a third of RGB's bytes) go up to the GPU and are converted there
(pixels.to_tensor). NVDEC, FFmpeg's `cuda` hwaccel in PyAV, decodes into GPU memory, and its NV12/P010
surfaces are taken over by DLPack without leaving the card. Where NVDEC cannot be used (no driver,
no NVDEC library, a codec, profile or size it does not take) decoding falls back to the CPU, saying
so at -v only. A CPU engine keeps swscale's rgb24 path, which is faster there than converting planes
with torch (640x360: 0.22 against 1.69 ms; 1080p: 1.58 against 17.0 ms on the 2-core machine, with
the float conversion: benchmarks/colour_paths.py).
"""
from __future__ import annotations

import ctypes
import functools
import sys
from dataclasses import replace

import av
import torch
from av.video.reformatter import Interpolation

from ..colour import SITINGS, YuvFormat, YuvImage
from ..errors import log
from ..pixels import to_tensor

MAX_CODES = 1.0  # how far (8-bit codes) the planes' first picture may be from FFmpeg's before the CPU path is used

ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT

# Pixel formats taken as planes: name -> (bits, full range, interleaved chroma, shift). yuvj* are JPEG's
# full-range variants; P010 and P016 keep their samples in the high bits of 16.
PLANAR_FORMATS = {
    "yuv420p": (8, False, False, 0), "yuv422p": (8, False, False, 0), "yuv444p": (8, False, False, 0),
    "yuvj420p": (8, True, False, 0), "yuvj422p": (8, True, False, 0), "yuvj444p": (8, True, False, 0),
    "yuv420p10le": (10, False, False, 0), "yuv422p10le": (10, False, False, 0), "yuv444p10le": (10, False, False, 0),
    "yuv420p12le": (12, False, False, 0), "yuv422p12le": (12, False, False, 0), "yuv444p12le": (12, False, False, 0),
    "nv12": (8, False, True, 0), "p010le": (10, False, True, 6), "p016le": (16, False, True, 0),
}
HW_EXPORTS = {"nv12", "p010le", "p016le"}  # NVDEC surfaces PyAV hands over by DLPack
NVDEC_CODECS = {"h264", "hevc", "av1", "vp9", "vp8", "mpeg2video", "mpeg4", "mjpeg", "vc1"}
AVCOL_SPC = {1: "bt709", 9: "bt2020", 10: "bt2020"}  # AVColorSpace -> matrix; others (unset, 5, 6) BT.601
AVCOL_RANGE_JPEG = 2
CENTRE_SITED = {"mjpeg", "jpeg2000", "mpeg1video"}  # codecs whose 4:2:0 chroma sits in the centre


def yuv_format(frame: av.VideoFrame, name: str, siting: str = "left") -> YuvFormat | None:
    """How `frame`'s codes map to colour, as swscale reads them: its tagged matrix (untagged: BT.601,
    swscale's default, so a GPU engine sees what a CPU one does) and range; None for a pixel format
    that is not taken as planes."""
    entry = PLANAR_FORMATS.get(name)
    if entry is None:
        return None
    bits, full, _, _ = entry
    return YuvFormat(AVCOL_SPC.get(frame.colorspace, "bt601"), full or frame.color_range == AVCOL_RANGE_JPEG, bits,
                     siting)


def yuv_image(frame: av.VideoFrame, siting: str = "left") -> YuvImage | None:
    """A decoded frame's planes as a YuvImage, without copying on the CPU (the frame is kept alive under
    them); an NVDEC surface is copied once on the GPU, so the decoder gets it back at once. None for a
    pixel format not taken as planes (the caller converts with swscale). siting: its chroma's (see
    chroma_siting)."""
    hw = frame.format.name == "cuda"
    name = frame.sw_format.name if hw else frame.format.name
    fmt = yuv_format(frame, name, siting)
    if fmt is None or hw and (name not in HW_EXPORTS or frame.width % 2 or frame.height % 2):
        return None  # PyAV exports only these surfaces by DLPack, and odd sizes' chroma one row short
    _, _, interleaved, shift = PLANAR_FORMATS[name]
    # The planes' DLPack capsules, asked for without a stream: torch.from_dlpack(plane) would pass its
    # current stream, which PyAV refuses for a CUDA surface. None is right here: FFmpeg copies an NVDEC
    # surface out on the context's default stream, which torch's work on this thread follows.
    planes = tuple(torch.from_dlpack(p.__dlpack__()) for p in frame.planes[:2 if interleaved else 3])
    if hw:  # uint16 (P010) copied as int16: the same bits, by a kernel every torch build has
        return YuvImage(tuple(p.view(torch.int16).clone().view(torch.uint16) if p.dtype == torch.uint16
                              else p.clone() for p in planes), fmt, shift)
    return YuvImage(planes, fmt, shift, owner=frame)


def ffmpeg_rgb(frame: av.VideoFrame) -> torch.Tensor:
    """`frame` as swscale converts it (accurate, full chroma interpolation): [3,H,W] float, 0..255 codes on
    the CPU. The reference the first picture's planes are held to (chroma_siting, conversion_error)."""
    return torch.from_numpy(frame.to_ndarray(format="rgb24", interpolation=ACCURATE)).permute(2, 0, 1).float()


def chroma_siting(want: torch.Tensor, image: YuvImage, default: str) -> str:
    """Where the subsampled chroma of the frame whose planes are `image` sits, as FFmpeg decodes it: the
    frame says (H.264, HEVC and MPEG-2 put it left, JPEG in the centre) but PyAV does not pass that on, so
    each siting's conversion is compared with swscale's own (`want`, ffmpeg_rgb of the frame) and the
    closest is taken; `default` where they tie (chroma without detail)."""
    if image.chroma()[0].shape == image.planes[0].shape[:2]:
        return default  # 4:4:4: nothing is interpolated
    errors = {}
    for siting in (default, *(s for s in SITINGS if s != default)):
        trial = replace(image, fmt=replace(image.fmt, siting=siting))
        errors[siting] = (trial.to_rgb().cpu() * 255 - want).abs().mean().item()
    best = min(errors, key=errors.get)
    return best if errors[best] < errors[default] - 1e-3 else default


def conversion_error(want: torch.Tensor, image: YuvImage, device: torch.device) -> float:
    """The largest difference, in 8-bit codes, between `image` converted as the engine will convert it
    (pixels.to_tensor on `device`: uploaded, then converted there) and FFmpeg's accurate conversion of the
    same decoded frame on the CPU (`want`, ffmpeg_rgb of it). Both are taken upright: the image's turns and
    mirror are undone."""
    upright = replace(image, turns=0, mirror=False)
    got = to_tensor(upright, device, torch.float32)[0].cpu().mul_(255).round_()
    if got.shape != want.shape:
        return float("inf")
    return (got - want).abs().max().item()


def open_nvdec(spec: str, device: int, options: dict) -> av.container.InputContainer | None:
    """The file opened for NVDEC decoding into the memory of CUDA device `device` (sharing torch's
    context), or None, with one line at -v, where NVDEC cannot be used here."""
    from av.codec.hwaccel import HWAccel

    missing = nvdec_library_missing()
    if missing is not None:
        log.info(f"NVDEC is not available ({missing}); decoding on the CPU")
        return None
    try:
        hw = HWAccel("cuda", device=str(device), allow_software_fallback=True, options={"primary_ctx": "1"},
                     is_hw_owned=True)
        return av.open(spec, hwaccel=hw, **options)
    except (av.error.FFmpegError, RuntimeError, ValueError, TypeError) as e:
        log.info(f"NVDEC is not available ({e}); decoding on the CPU")
        return None


@functools.cache
def nvdec_library_missing() -> str | None:
    """Why NVDEC's driver library cannot be loaded on Linux, or None. Without it FFmpeg would open the
    GPU and then decode on the CPU, and the note would blame the stream; containers often lack it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        ctypes.CDLL("libnvcuvid.so.1")
    except OSError:
        return ("its driver library libnvcuvid.so.1 is not installed; in a container, add video to "
                "NVIDIA_DRIVER_CAPABILITIES")
    return None


def nvdec_refusal(stream) -> str | None:
    """Why NVDEC will not be asked to decode `stream` (None: it will be)."""
    ctx = stream.codec_context
    if ctx.name not in NVDEC_CODECS:
        return f"NVDEC does not decode {ctx.name}"
    if ctx.width % 2 or ctx.height % 2:
        return f"NVDEC frames of an odd size ({ctx.width}x{ctx.height}) are not taken"
    return None


class SoftwareNote:
    """Says once, at -v, that NVDEC handed frames back to software decoding (a profile it lacks)."""

    def __init__(self, codec: str) -> None:
        self.codec, self.said = codec, False

    def __call__(self, frame: av.VideoFrame) -> None:
        if not self.said and frame.format.name != "cuda":
            self.said = True
            log.info(f"NVDEC did not take this {self.codec} stream (its profile); decoding on the CPU")
