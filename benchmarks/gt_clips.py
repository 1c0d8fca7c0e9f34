"""Clips with exact ground-truth alpha, made at run time as the RVM paper's VideoMatte240K composites are:
a foreground layer (a P3M portrait and its alpha) over a person-free background, `fg * a + bg * (1 - a)`,
so the layer's alpha is exactly the composite's.

Each shot moves both layers: the camera pans over the background, the subject slides and grows, the
light changes; shots are joined by hard cuts. Backgrounds: scikit-image's stills (brick, grass, gravel,
rocket, coffee, chelsea) and generated textures. Foreground colour ground truth is the portrait's own
pixels, which hold some of the photo's old background where its alpha is fractional.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SKIMAGE_BACKGROUNDS = ("brick", "coffee", "grass", "rocket", "gravel", "chelsea")


@dataclass(frozen=True)
class Layer:
    """A portrait: colour HxWx3 and alpha HxW, float32 in [0, 1]."""

    name: str
    fg: np.ndarray
    alpha: np.ndarray


def portraits(folder: Path) -> list[Layer]:
    """The P3M portraits and their mattes (P3M-Net's), sorted by name."""
    out = []
    for jpg in sorted(folder.glob("p3m_*.jpg")):
        fg = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
        a = cv2.imread(str(jpg.with_name(f"{jpg.stem}_alpha_p3mnet_pred.png")), cv2.IMREAD_GRAYSCALE)
        out.append(Layer(jpg.stem, fg, a.astype(np.float32) / 255))
    return out


def _texture(seed: int, size: int = 768) -> np.ndarray:
    """Smooth coloured noise with stripes: a generated, person-free background, HxWx3 in [0, 1]."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.random((24, 24, 3), np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    y, x = np.mgrid[:size, :size].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((x * np.cos(seed) + y * np.sin(seed)) / (6 + 4 * seed))
    return np.clip(0.6 * noise + 0.4 * stripes[..., None] * rng.random(3, np.float32), 0, 1)


def backgrounds() -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 float image in [0, 1]) of every background, scikit-image's first."""
    import skimage.data

    out = []
    for name in SKIMAGE_BACKGROUNDS:
        im = getattr(skimage.data, name)().astype(np.float32) / 255
        out.append((name, np.repeat(im[..., None], 3, 2) if im.ndim == 2 else im[..., :3]))
    return out + [(f"texture{s}", _texture(s)) for s in (1, 2)]


def _warp(im: np.ndarray, m: np.ndarray, w: int, h: int, border: int) -> np.ndarray:
    return cv2.warpAffine(im, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)


class Clip:
    """`shots` shots of `shot_frames` frames each at width x height; frame(i) is deterministic."""

    def __init__(self, width: int, height: int, layers: list[Layer], bgs: list[tuple[str, np.ndarray]],
                 shots: int = 4, shot_frames: int = 32) -> None:
        self.width, self.height, self.shot_frames = width, height, shot_frames
        self.shots = [(layers[s % len(layers)], bgs[(3 * s + 1) % len(bgs)], s) for s in range(shots)]
        self.frames = shots * shot_frames
        self.cuts = [s * shot_frames for s in range(1, shots)]  # first frame of each new shot

    def describe(self) -> list[str]:
        return [f"{layer.name} over {bg[0]}" for layer, bg, _ in self.shots]

    def frame(self, i: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(composite uint8 HxWx3 RGB, true alpha float32 HxW, true foreground float32 HxWx3) of frame i; a
        fractional i is a moment between two frames of a shot (for motion blur's sub-frames)."""
        layer, (_, bg), s = self.shots[int(i // self.shot_frames)]
        t = (i % self.shot_frames) / max(1, self.shot_frames - 1)
        w, h = self.width, self.height
        # The camera: the background, scaled to 1.4x the frame, pans across it (and drifts down).
        bh, bw = bg.shape[:2]
        k = 1.4 * max(w / bw, h / bh)
        pan_x = (0.1 + 0.8 * (t if s % 2 == 0 else 1 - t)) * (bw * k - w)
        pan_y = (0.3 + 0.4 * t) * (bh * k - h)
        m_bg = np.array([[k, 0, -pan_x], [0, k, -pan_y]], np.float32)
        back = _warp(bg, m_bg, w, h, cv2.BORDER_REFLECT)
        # The subject: its height grows from 0.85 to 1.0 of the frame's, it slides sideways, its feet
        # (the portrait's bottom edge) stay below the frame.
        fh, fw = layer.alpha.shape
        scale = (0.85 + 0.15 * t) * h / fh * (1.15 if fh > fw else 1.0)
        cx = (0.35 + 0.3 * (1 - t if s % 2 else t)) * w
        m_fg = np.array([[scale, 0, cx - scale * fw / 2], [0, scale, h * 1.04 - scale * fh]], np.float32)
        alpha = np.clip(_warp(layer.alpha, m_fg, w, h, cv2.BORDER_CONSTANT), 0, 1)
        fg = _warp(layer.fg, m_fg, w, h, cv2.BORDER_REPLICATE)
        # The light: a slow change of brightness over both layers.
        gain = np.float32(1 + 0.12 * np.sin(2 * np.pi * (i / 40.0 + s)))
        fg, back = np.clip(fg * gain, 0, 1), np.clip(back * gain, 0, 1)
        comp = fg * alpha[..., None] + back * (1 - alpha[..., None])
        return np.round(comp * 255).astype(np.uint8), alpha, fg


def clip_for(size: str, folder: Path, shots: int = 4, shot_frames: int = 32) -> Clip:
    """A Clip of size 'WIDTHxHEIGHT' from the portraits in `folder` over every background; one line and
    an exit where the portraits are absent (they are in ../shared/media, never in the repository)."""
    layers = portraits(folder)
    if not layers:
        raise SystemExit(f"no portraits in {folder}: run beside ../shared")
    w, h = map(int, size.split("x"))
    return Clip(w, h, layers, backgrounds(), shots, shot_frames)


def write_lossless(clip: Clip, path: Path, fps: int = 30) -> None:
    """The composite as an FFV1 .mkv in packed RGB (bgr0), which decodes back to exactly the same pixels."""
    import av

    with av.open(str(path), "w") as out:
        st = out.add_stream("ffv1", rate=fps)
        st.width, st.height, st.pix_fmt = clip.width, clip.height, "bgr0"
        for i in range(clip.frames):
            frame = av.VideoFrame.from_ndarray(clip.frame(i)[0], format="rgb24").reformat(format="bgr0")
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
