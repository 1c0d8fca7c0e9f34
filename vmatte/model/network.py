"""The Robust Video Matting network: encoder -> LR-ASPP -> recurrent decoder -> projection -> refiner."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .decoder import LRASPP, Projection, RecurrentDecoder
from .mobilenetv3 import MobileNetV3LargeEncoder
from .refiner import DeepGuidedFilterRefiner
from .resnet import ResNet50Encoder

VARIANTS = {
    # backbone, LR-ASPP width, decoder widths
    "mobilenetv3": (MobileNetV3LargeEncoder, 128, (80, 40, 32, 16)),
    "resnet50": (ResNet50Encoder, 256, (128, 64, 32, 16)),
}

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

    def forward(self, src: torch.Tensor, r1: torch.Tensor | None = None, r2: torch.Tensor | None = None,
                r3: torch.Tensor | None = None, r4: torch.Tensor | None = None,
                downsample_ratio: float = 1.0) -> tuple[torch.Tensor, ...]:
        timed = src.ndim == 5
        t = src.shape[1] if timed else 1
        x = src.flatten(0, 1) if timed else src
        small = x if downsample_ratio == 1 else F.interpolate(
            x, scale_factor=downsample_ratio, mode="bilinear", align_corners=False, recompute_scale_factor=False)
        f1, f2, f3, f4 = self.backbone(small)
        hid, *state = self.decoder(small, f1, f2, f3, self.aspp(f4), r1, r2, r3, r4, t)
        fgr_res, pha = self.project_mat(hid).split([3, 1], 1)
        if downsample_ratio != 1:
            fgr_res, pha = self.refiner(x, small, fgr_res, pha, hid)
        fgr = (x + fgr_res).clamp(0.0, 1.0)
        pha = pha.clamp(0.0, 1.0)
        if timed:
            fgr, pha = fgr.unflatten(0, (-1, t)), pha.unflatten(0, (-1, t))
        return (fgr, pha, *state)
