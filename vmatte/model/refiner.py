"""Deep Guided Filter: upsamples the low-resolution matte to full resolution, guided by the image."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class DeepGuidedFilterRefiner(nn.Module):
    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        # A fixed 3x3 mean filter, kept as a module so its weight round-trips through checkpoints.
        self.box_filter = nn.Conv2d(4, 4, 3, padding=1, bias=False, groups=4)
        nn.init.constant_(self.box_filter.weight, 1 / 9)
        self.conv = nn.Sequential(
            nn.Conv2d(4 * 2 + hidden, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(True),
            nn.Conv2d(hidden, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(True),
            nn.Conv2d(hidden, 4, 1, bias=True),
        )

    def forward(self, fine_src: torch.Tensor, base_src: torch.Tensor, base_fgr: torch.Tensor,
                base_pha: torch.Tensor, base_hid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All [N,C,H,W]; `fine_*` at full size, `base_*` at the downsampled size. Returns (fgr residual, alpha)."""
        base_x = torch.cat([base_src, base_src.mean(1, keepdim=True)], 1)
        base_y = torch.cat([base_fgr, base_pha], 1)
        box = self.box_filter
        mean_x, mean_y = box(base_x), box(base_y)
        cov_xy = box(base_x * base_y) - mean_x * mean_y
        var_x = box(base_x * base_x) - mean_x * mean_x
        a = self.conv(torch.cat([cov_xy, var_x, base_hid], 1))
        b = mean_y - a * mean_x
        size = fine_src.shape[2:]
        a = F.interpolate(a, size, mode="bilinear", align_corners=False)
        b = F.interpolate(b, size, mode="bilinear", align_corners=False)
        out = a * torch.cat([fine_src, fine_src.mean(1, keepdim=True)], 1) + b
        return out[:, :3], out[:, 3:]
