"""MobileNetV3-Large encoder in torchvision's parameter layout, last stage dilated (output stride 16).

Module names (`features.N.block.M...`) follow torchvision so that RVM checkpoints load strictly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPS = 1e-3


@dataclass(frozen=True)
class Stage:
    """One inverted-residual block: kernel, expanded and output channels, SE, activation, stride, dilation."""

    kernel: int
    expanded: int
    out: int
    se: bool
    hardswish: bool
    stride: int
    dilation: int = 1


# MobileNetV3-Large (Howard et al. 2019, table 1); the last three blocks dilated instead of strided.
LARGE = (
    Stage(3, 16, 16, False, False, 1),
    Stage(3, 64, 24, False, False, 2),
    Stage(3, 72, 24, False, False, 1),
    Stage(5, 72, 40, True, False, 2),
    Stage(5, 120, 40, True, False, 1),
    Stage(5, 120, 40, True, False, 1),
    Stage(3, 240, 80, False, True, 2),
    Stage(3, 200, 80, False, True, 1),
    Stage(3, 184, 80, False, True, 1),
    Stage(3, 184, 80, False, True, 1),
    Stage(3, 480, 112, True, True, 1),
    Stage(3, 672, 112, True, True, 1),
    Stage(5, 672, 160, True, True, 2, 2),
    Stage(5, 960, 160, True, True, 1, 2),
    Stage(5, 960, 160, True, True, 1, 2),
)
# Indices into `features` after which the skip features are taken (1/2, 1/4, 1/8; the last is 1/16).
SKIPS = (1, 3, 6)


def round8(v: float) -> int:
    """Round a channel count to a multiple of 8, never losing more than 10% (torchvision's rule)."""
    r = max(8, int(v + 4) // 8 * 8)
    return r + 8 if r < 0.9 * v else r


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm -> optional activation, 'same' padding."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                 dilation: int = 1, act: type[nn.Module] | None = nn.ReLU) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 * dilation, dilation=dilation,
                      groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=BN_EPS),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel gate: global average -> 1x1 -> ReLU -> 1x1 -> hard sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = round8(channels // 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.fc2(torch.relu(self.fc1(s)))
        return x * nn.functional.hardsigmoid(s)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, st: Stage) -> None:
        super().__init__()
        act = nn.Hardswish if st.hardswish else nn.ReLU
        stride = 1 if st.dilation > 1 else st.stride
        layers: list[nn.Module] = []
        if st.expanded != cin:
            layers.append(ConvBNAct(cin, st.expanded, 1, act=act))
        layers.append(ConvBNAct(st.expanded, st.expanded, st.kernel, stride, st.expanded, st.dilation, act))
        if st.se:
            layers.append(SqueezeExcite(st.expanded))
        layers.append(ConvBNAct(st.expanded, st.out, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == st.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3LargeEncoder(nn.Module):
    """RGB 0..1 [N,3,H,W] -> features at 1/2 (16 ch), 1/4 (24), 1/8 (40) and 1/16 (960)."""

    channels = (16, 24, 40, 960)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(3, 16, 3, 2, act=nn.Hardswish)]
        cin = 16
        for st in LARGE:
            layers.append(InvertedResidual(cin, st))
            cin = st.out
        layers.append(ConvBNAct(cin, 6 * cin, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in SKIPS:
                out.append(x)
        out.append(x)
        return out
