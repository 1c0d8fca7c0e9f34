"""ResNet-50 encoder in torchvision's parameter layout, layer4 dilated (output stride 16)."""
from __future__ import annotations

import torch
from torch import nn

from .mobilenetv3 import IMAGENET_MEAN, IMAGENET_STD


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, dilation: int, downsample: bool) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if downsample else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(y + skip)


class ResNet50Encoder(nn.Module):
    """RGB 0..1 [N,3,H,W] -> features at 1/2 (64 ch), 1/4 (256), 1/8 (512) and 1/16 (2048)."""

    channels = (64, 256, 512, 2048)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, dilation = 64, 1
        # (width, blocks, stride, dilate instead of stride)
        for name, (width, blocks, stride, dilate) in zip(
            ("layer1", "layer2", "layer3", "layer4"),
            ((64, 3, 1, False), (128, 4, 2, False), (256, 6, 2, False), (512, 3, 2, True)),
        ):
            first_dilation = dilation
            if dilate:
                dilation, stride = dilation * stride, 1
            layers = [Bottleneck(cin, width, stride, first_dilation,
                                 stride != 1 or cin != width * Bottleneck.expansion)]
            cin = width * Bottleneck.expansion
            layers += [Bottleneck(cin, width, 1, dilation, False) for _ in range(blocks - 1)]
            setattr(self, name, nn.Sequential(*layers))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        f1 = self.relu(self.bn1(self.conv1(x)))
        f2 = self.layer1(self.maxpool(f1))
        f3 = self.layer2(f2)
        f4 = self.layer4(self.layer3(f3))
        return [f1, f2, f3, f4]
