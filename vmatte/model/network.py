"""The Robust Video Matting network: encoder -> LR-ASPP -> recurrent decoder -> projection -> refiner."""
from __future__ import annotations

import torch
from torch import nn

from .decoder import LRASPP, Projection, RecurrentDecoder
from .mobilenetv3 import MobileNetV3LargeEncoder
from .refiner import DeepGuidedFilterRefiner
from .resnet import ResNet50Encoder

VARIANTS = {
    # backbone, LR-ASPP width, decoder widths
    "mobilenetv3": (MobileNetV3LargeEncoder, 128, (80, 40, 32, 16)),
    "resnet50": (ResNet50Encoder, 256, (128, 64, 32, 16)),
}

def _taps(n_in: int, n_out: int, ratio: float, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Bilinear source indices and weights along one axis (half-pixel centres, edges clamped)."""
    src = ((torch.arange(n_out, device=device, dtype=torch.float32) + 0.5) / ratio - 0.5).clamp_min(0)
    i0 = src.floor().long().clamp_max(n_in - 1)
    return i0, (i0 + 1).clamp_max(n_in - 1), src - i0


def downsample(x: torch.Tensor, ratio: float) -> torch.Tensor:
    """Bilinear resize of [N,C,H,W] by `ratio` to floor(H*ratio) x floor(W*ratio).

    Same maths as F.interpolate(scale_factor=ratio, align_corners=False), but with source
    coordinates computed as (i + 0.5) / ratio in float32, as the ONNX Resize of the official
    export does; F.interpolate's multiply-by-reciprocal drifts by up to 2e-5 per pixel at 0.75.
    """
    h, w = x.shape[-2:]
    oh, ow = max(1, int(h * ratio)), max(1, int(w * ratio))
    r0, r1, wr = _taps(h, oh, ratio, x.device)
    c0, c1, wc = _taps(w, ow, ratio, x.device)
    wr, wc = wr.to(x.dtype)[:, None], wc.to(x.dtype)
    x = x[:, :, r0] * (1 - wr) + x[:, :, r1] * wr
    return x[..., c0] * (1 - wc) + x[..., c1] * wc


State = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


class MattingNetwork(nn.Module):
    """RVM. `forward(src, r1..r4, downsample_ratio)` -> (fgr, pha, r1, r2, r3, r4).

    src is RGB 0..1, [B,3,H,W] or [B,T,3,H,W]; fgr and pha come back in the same layout,
    fgr RGB 0..1 and pha alpha 0..1. r1..r4 are the recurrent states ([B,C,h,w], None at start).
    """

    def __init__(self, variant: str = "mobilenetv3") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(VARIANTS)}")
        encoder, aspp, decoder = VARIANTS[variant]
        self.variant = variant
        self.backbone = encoder()
        f1, f2, f3, f4 = self.backbone.channels
        self.aspp = LRASPP(f4, aspp)
        self.decoder = RecurrentDecoder((f1, f2, f3, aspp), decoder)
        self.project_mat = Projection(decoder[-1], 4)
        self.project_seg = Projection(decoder[-1], 1)  # unused for matting; kept so official .pth load strictly
        self.refiner = DeepGuidedFilterRefiner()

    def _recur(self, src: torch.Tensor, state: tuple, ratio: float,
               states_only: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, list, int]:
        """The shared front of forward and advance: (full-size frames, downsampled frames, decoder
        features (None with states_only), new state, frames per stream). Time is folded into the batch."""
        t = src.shape[1] if src.ndim == 5 else 1
        x = src.flatten(0, 1) if src.ndim == 5 else src
        small = x if ratio == 1 else downsample(x, ratio)
        f1, f2, f3, f4 = self.backbone(small)
        hid, *new = self.decoder(small, f1, f2, f3, self.aspp(f4), *state, t, states_only=states_only)
        return x, small, hid, new, t

    def forward(self, src: torch.Tensor, r1: torch.Tensor | None = None, r2: torch.Tensor | None = None,
                r3: torch.Tensor | None = None, r4: torch.Tensor | None = None,
                downsample_ratio: float = 1.0) -> tuple[torch.Tensor, ...]:
        x, small, hid, state, t = self._recur(src, (r1, r2, r3, r4), downsample_ratio, False)
        fgr_res, pha = self.project_mat(hid).split([3, 1], 1)
        if downsample_ratio != 1:
            fgr_res, pha = self.refiner(x, small, fgr_res, pha, hid)
        fgr = (x + fgr_res).clamp(0.0, 1.0)
        pha = pha.clamp(0.0, 1.0)
        if src.ndim == 5:
            fgr, pha = fgr.unflatten(0, (-1, t)), pha.unflatten(0, (-1, t))
        return (fgr, pha, *state)

    def advance(self, src: torch.Tensor, r1: torch.Tensor | None = None, r2: torch.Tensor | None = None,
                r3: torch.Tensor | None = None, r4: torch.Tensor | None = None,
                downsample_ratio: float = 1.0) -> tuple[torch.Tensor, ...]:
        """Only the new recurrent state (r1..r4) for `src`: the same as forward's, without the output
        block, projection and full-resolution refiner, which do not feed the state. For settling."""
        return tuple(self._recur(src, (r1, r2, r3, r4), downsample_ratio, True)[3])
