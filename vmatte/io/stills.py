"""Photos in and out: any mode read upright (EXIF orientation), the ICC profile carried; PNG, JPEG, WebP
and TIFF written under a temporary name, read back, and renamed.

Pixels come through OpenCV where it reads the format (16-bit PNG and TIFF keep their depth; CMYK, grey and
palette images become RGB; an alpha channel is dropped: the matte replaces it), and through Pillow for the
rest (GIF, AVIF, JPEG 2000, ... and files OpenCV fails on); Pillow checks the file is whole and still (not
animated), gives the size before decoding (for --max-pixels), the EXIF orientation and the ICC profile, and
writes the 8-bit formats with that profile. A profile that is not an RGB one (CMYK, grey) is applied,
converting the pixels to sRGB, which the outputs are then tagged with; one that cannot be applied (a Lab
profile on RGB data) is dropped rather than copied onto pixels it does not describe. 16-bit PNG is written
by OpenCV, which keeps no profile. TIFF (16 bits a sample) is written by tifffile, with the profile, and
its alpha marked as unassociated (straight) alpha in the ExtraSamples tag, as libtiff, ImageMagick and
image editors expect; it is read back by OpenCV.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import VmatteError
from .atomic import write_atomically
from .frames import check_pixels

PHOTO_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
# EXIF orientation -> what makes the picture upright (as Pillow's ImageOps.exif_transpose does)
UPRIGHT = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class Photo:
    """An upright picture: HxWx3 RGB, uint8 or uint16; the ICC profile it came with, if any."""

    image: np.ndarray
    icc: bytes | None
    name: str


def readable_exts() -> frozenset[str]:
    """Extensions of the still images vmatte reads: OpenCV's (16-bit PNG and TIFF keep their depth) and
    every format the installed Pillow decodes (GIF, AVIF where its plugin is built, JPEG 2000, TGA, ...)."""
    from PIL import Image

    pillow = {e for e, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    return frozenset(PHOTO_EXTS | (pillow - NOT_DECODED))


# Extensions Pillow registers but cannot decode here (identify only, or an outside program it needs).
NOT_DECODED = {".mpg", ".mpeg", ".eps", ".ps", ".bufr", ".grib", ".h5", ".hdf", ".wmf", ".emf"}


def frame_count(path: Path) -> int:
    """Pictures in an image file: more than 1 for an animated GIF, WebP or APNG (1 where it cannot tell)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1) or 1)
    except (OSError, SyntaxError, ValueError):
        return 1


def animated(path: Path, frames: int) -> str:
    """Why an animated image is not a photo, and what to do (a refusal says `{path} is ` before it)."""
    if path.suffix.lower() in (".gif", ".png", ".apng"):
        return (f"animated ({frames} frames), not a photo; matte it on its own, as a clip: "
                f"vmatte convert {path.name} -o OUT.mov")
    return (f"animated ({frames} frames), and FFmpeg cannot read it as a clip; save it as a GIF or a video, or "
            "export the frame you want")


def read_photo(path: Path, max_pixels: int) -> Photo:
    """A photo upright, in RGB: a profile for other pixels (CMYK, Lab, grey) is applied, converting to sRGB;
    one line for a missing, truncated, animated, non-image or too large file."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # --max-pixels is the limit, with its own message
    if not path.is_file():
        raise VmatteError(f"{path} does not exist or is not a file; check the path")
    try:
        with Image.open(path) as im:
            check_pixels(path.name, *im.size, max_pixels)
            frames = int(getattr(im, "n_frames", 1) or 1)
            if frames > 1:
                raise VmatteError(f"{path} is {animated(path, frames)}")
            im.load()  # decodes the whole file: a truncated one fails here
            icc = im.info.get("icc_profile")
            orientation = im.getexif().get(0x0112, 1)
            foreign = bool(icc) and icc[16:20] != b"RGB "  # a profile for other pixels (CMYK, grey, Lab)
            converted = _to_srgb(im, icc) if foreign else None
            img = _opencv_pixels(path) if converted is None else converted
            if img is None:  # a format OpenCV does not read, or one it fails on (TIFF with an orientation)
                img = np.array(im.convert("RGBA" if "A" in im.getbands() else "RGB"))
    except UnidentifiedImageError:
        raise VmatteError(f"{path} is not an image (or not one Pillow reads); give a PNG, JPEG, WebP or TIFF") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise VmatteError(f"{path} is damaged or truncated ({e}); re-export or re-download it") from None
    if foreign:  # the pixels are sRGB now, and tagged so; or the profile does not describe them: none
        icc = srgb_profile() if converted is not None else None
    if img.dtype not in (np.uint8, np.uint16):
        img = (np.clip(img.astype(np.float32), 0, 1) * 65535).astype(np.uint16)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, 2)
    img = np.ascontiguousarray(UPRIGHT.get(orientation, lambda a: a)(img[..., :3]))
    return Photo(img, icc, path.name)


def _opencv_pixels(path: Path) -> np.ndarray | None:
    """RGB(A) or grey pixels as OpenCV decodes them (16 bits kept), or None where it cannot; its own error
    lines are silenced (it fails on some valid files, such as a TIFF with an EXIF orientation)."""
    if path.suffix.lower() not in PHOTO_EXTS:
        return None
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if img is None or img.ndim == 2:
        return img
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def _to_srgb(im, icc: bytes) -> np.ndarray | None:
    """Pixels whose profile is not an RGB one (a CMYK or grey image with its profile) converted through it
    to sRGB, 8-bit RGB; None where the profile does not fit the pixels (a Lab profile on RGB data)."""
    import io

    from PIL import ImageCms

    if im.mode not in PROFILE_MODES.get(icc[16:20], ()):
        return None
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return np.array(ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB"))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


PROFILE_MODES = {b"CMYK": ("CMYK",), b"GRAY": ("L",)}  # an ICC profile's colour space -> the Pillow modes it fits


def srgb_profile() -> bytes:
    """The sRGB profile's bytes, as Pillow's littleCMS makes it."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def check_photo_target(path: Path, layout: str) -> None:
    """Refuse, before anything is matted, an output whose type cannot hold `layout` ('rgba', 'rgb', 'gray')."""
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg") and layout != "rgb":
        raise VmatteError(f"{path}: JPEG has no alpha; write .png, .webp or .tif, or flatten it with --composite")
    if ext not in PHOTO_EXTS - {".bmp"}:
        raise VmatteError(f"{path}: unknown photo output type {ext or '(none)'!r}; use .png, .jpg, .webp or .tif")


def write_photo(path: Path, pixels: np.ndarray, layout: str, icc: bytes | None = None, quality: int = 95) -> None:
    """Write an HxWxC array (RGBA, RGB or gray; uint8 or uint16) by the file's extension: PNG (8/16-bit),
    JPEG (8-bit RGB, `quality` 1-100), WebP (8-bit, with alpha; 100 is lossless), TIFF (16-bit)."""
    check_photo_target(path, layout)
    ext = path.suffix.lower()

    def save(tmp: Path) -> None:
        if ext in (".tif", ".tiff"):
            _write_tiff(tmp, pixels, layout, icc)
            return
        if pixels.dtype == np.uint16:
            conv = {"rgba": cv2.COLOR_RGBA2BGRA, "rgb": cv2.COLOR_RGB2BGR}.get(layout)
            ok, buf = cv2.imencode(ext if ext != ".jpeg" else ".jpg", cv2.cvtColor(pixels, conv) if conv else pixels)
            if not ok:
                raise VmatteError(f"{path}: OpenCV could not encode it")
            tmp.write_bytes(buf.tobytes())
            return
        from PIL import Image

        mode = {"rgba": "RGBA", "rgb": "RGB", "gray": "L"}[layout]
        im = Image.fromarray(pixels[..., 0] if layout == "gray" else pixels, mode)
        fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[ext]
        extra = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
        if fmt == "WEBP" and quality >= 100:
            extra = {"lossless": True}
        im.save(tmp, fmt, icc_profile=icc, **extra)

    write_atomically(path, lambda tmp: (save(tmp), _check(tmp, pixels.shape[:2], path)))


def _write_tiff(tmp: Path, pixels: np.ndarray, layout: str, icc: bytes | None) -> None:
    """16 bits a sample, deflate-compressed, RGB(A) or grey; the alpha channel tagged as straight alpha
    (ExtraSamples = 2, unassociated); the ICC profile kept (tag 34675)."""
    import tifffile

    data = pixels if pixels.dtype == np.uint16 else pixels.astype(np.uint16) * 257
    photometric = "minisblack" if layout == "gray" else "rgb"
    if layout == "gray":
        data = data[..., 0]
    extra = {"extrasamples": ["unassalpha"]} if layout == "rgba" else {}
    tags = [(34675, "B", len(icc), icc, True)] if icc else []
    tifffile.imwrite(tmp, data, photometric=photometric, planarconfig="contig", compression="zlib",
                     extratags=tags, metadata=None, **extra)


def _check(tmp: Path, size: tuple[int, int], final: Path) -> None:
    """Read the written photo back: whole, and the size it should be."""
    back = cv2.imread(str(tmp), cv2.IMREAD_UNCHANGED)
    if back is None or back.shape[:2] != tuple(size):
        raise VmatteError(f"{final} did not read back as a {size[1]}x{size[0]} image; nothing was written there")

