"""LR-ASPP and the recurrent decoder (ConvGRU at 1/16, 1/8, 1/4 and 1/2 scale).

Tensors are [N,C,H,W] with N = B*T, time folded into the batch; only the ConvGRU
unfolds it to step through time.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class LRASPP(nn.Module):
    """Lite R-ASPP: a 1x1 conv branch gated by a sigmoid of the globally pooled input."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.aspp1 = conv_bn_relu(cin, cout, 1)
        self.aspp2 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aspp1(x) * self.aspp2(x)


class ConvGRU(nn.Module):
    """Convolutional GRU over `channels` channels; a missing state starts as zeros."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.ih = nn.Sequential(nn.Conv2d(2 * channels, 2 * channels, 3, padding=1), nn.Sigmoid())
        self.hh = nn.Sequential(nn.Conv2d(2 * channels, channels, 3, padding=1), nn.Tanh())

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r, z = self.ih(torch.cat([x, h], 1)).split(self.channels, 1)
        c = self.hh(torch.cat([x, r * h], 1))
        return (1 - z) * h + z * c

    def forward(self, x: torch.Tensor, h: torch.Tensor | None, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B*T,C,H,W] with T = t frames per stream; returns (outputs [B*T,C,H,W], last state [B,C,H,W])."""
        xs = x.unflatten(0, (-1, t))
        if h is None:
            h = torch.zeros_like(xs[:, 0])
        outs = []
        for i in range(t):
            h = self.step(xs[:, i], h)
            outs.append(h)
        return torch.stack(outs, 1).flatten(0, 1), h


class BottleneckBlock(nn.Module):
    """Runs a ConvGRU on the second half of the features (at 1/16 here; the upsampling blocks reuse it)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.gru = ConvGRU(self.half)

    def forward(self, x: torch.Tensor, r: torch.Tensor | None, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x.split(self.half, 1)
        b, r = self.gru(b, r, t)
        return torch.cat([a, b], 1), r


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear x2, cropped to the spatial size of `like` (odd sizes round up at each level)."""
    x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    return x[:, :, : like.shape[2], : like.shape[3]]


class UpsamplingBlock(BottleneckBlock):
    """x2 upsample, concat skip features and the image at that scale, conv, then ConvGRU on half."""

    def __init__(self, cin: int, skip: int, src: int, cout: int) -> None:
        super().__init__(cout)
        self.conv = conv_bn_relu(cin + skip + src, cout, 3)

    def forward(self, x: torch.Tensor, f: torch.Tensor, s: torch.Tensor, r: torch.Tensor | None,
                t: int) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(self.conv(torch.cat([upsample_to(x, s), f, s], 1)), r, t)


class OutputBlock(nn.Module):
    """x2 upsample to the (downsampled) input size, concat the image, two conv-BN-ReLU."""

    def __init__(self, cin: int, src: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*conv_bn_relu(cin + src, cout, 3), *conv_bn_relu(cout, cout, 3))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([upsample_to(x, s), s], 1))


class RecurrentDecoder(nn.Module):
    def __init__(self, feature_channels: tuple[int, ...], decoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        f1, f2, f3, f4 = feature_channels
        d3, d2, d1, d0 = decoder_channels
        self.decode4 = BottleneckBlock(f4)
        self.decode3 = UpsamplingBlock(f4, f3, 3, d3)
        self.decode2 = UpsamplingBlock(d3, f2, 3, d2)
        self.decode1 = UpsamplingBlock(d2, f1, 3, d1)
        self.decode0 = OutputBlock(d1, 3, d0)

    def forward(self, s0: torch.Tensor, f1: torch.Tensor, f2: torch.Tensor, f3: torch.Tensor, f4: torch.Tensor,
                r1: torch.Tensor | None, r2: torch.Tensor | None, r3: torch.Tensor | None,
                r4: torch.Tensor | None, t: int, states_only: bool = False) -> tuple[torch.Tensor | None, ...]:
        """-> (hidden features at the input scale, r1..r4); hidden is None with states_only."""
        s1 = F.avg_pool2d(s0, 2, 2, ceil_mode=True, count_include_pad=False)
        s2 = F.avg_pool2d(s1, 2, 2, ceil_mode=True, count_include_pad=False)
        s3 = F.avg_pool2d(s2, 2, 2, ceil_mode=True, count_include_pad=False)
        x4, r4 = self.decode4(f4, r4, t)
        x3, r3 = self.decode3(x4, f3, s3, r3, t)
        x2, r2 = self.decode2(x3, f2, s2, r2, t)
        x1, r1 = self.decode1(x2, f1, s1, r1, t)
        return (None if states_only else self.decode0(x1, s0)), r1, r2, r3, r4


class Projection(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
