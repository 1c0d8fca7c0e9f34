"""Convert an official RVM ONNX export into our state dict.

The export folds each BatchNorm into the convolution before it (weights named by number, with a
bias). The distinct Conv weights, in graph order, line up one-to-one with our Conv2d modules in the
order a forward pass first runs them; a folded conv loads into an unfolded Conv->BN pair as
conv.weight = W, BN = identity plus bias.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import VmatteError
from .network import MattingNetwork


def _onnx_convs(path: Path) -> list[tuple[str, torch.Tensor, torch.Tensor | None]]:
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as e:  # onnx raises DecodeError / ValueError / OSError for a bad file
        raise VmatteError(f"{path} is not a readable ONNX model ({type(e).__name__}); "
                          "pass a valid RVM export") from None
    inits = {i.name: i for i in graph.initializer}
    seen: set[str] = set()
    convs = []
    for node in graph.node:
        if node.op_type != "Conv" or node.input[1] in seen:
            continue
        seen.add(node.input[1])
        if node.input[1] not in inits:
            raise VmatteError(f"{path}: Conv weight {node.input[1]} is not a constant; not an RVM export")
        w = torch.from_numpy(numpy_helper.to_array(inits[node.input[1]]).copy())
        b = None
        if len(node.input) > 2 and node.input[2]:
            b = torch.from_numpy(numpy_helper.to_array(inits[node.input[2]]).copy())
        convs.append((node.input[1], w, b))
    return convs


def _convs_in_run_order(model: MattingNetwork) -> list[str]:
    order: list[str] = []
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(
                lambda m, i, o, name=name: order.append(name) if name not in order else None))
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, 64, 64), downsample_ratio=0.5)
    finally:
        for h in hooks:
            h.remove()
    return order


def _batchnorm_after(model: nn.Module) -> dict[str, str]:
    """Conv module name -> name of the BatchNorm that directly follows it."""
    pairs = {}
    for name, mod in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(mod, nn.Sequential):
            kids = list(mod.named_children())
            for (a, ma), (b, mb) in zip(kids, kids[1:]):
                if isinstance(ma, nn.Conv2d) and isinstance(mb, nn.BatchNorm2d):
                    pairs[prefix + a] = prefix + b
        for k in ("1", "2", "3"):  # ResNet's convK -> bnK
            if isinstance(getattr(mod, f"conv{k}", None), nn.Conv2d) and hasattr(mod, f"bn{k}"):
                pairs[f"{prefix}conv{k}"] = f"{prefix}bn{k}"
    return pairs


def state_dict_from_onnx(path: Path, variant: str = "mobilenetv3") -> dict[str, torch.Tensor]:
    """Read an RVM ONNX export and return a state dict for `MattingNetwork(variant)` (no project_seg)."""
    model = MattingNetwork(variant).eval()
    order = _convs_in_run_order(model)
    convs = _onnx_convs(path)
    if len(convs) != len(order):
        raise VmatteError(f"{path} has {len(convs)} convolutions, the {variant} network {len(order)}; "
                          "not an RVM export of that variant")
    bn_after = _batchnorm_after(model)
    mods = dict(model.named_modules())
    sd: dict[str, torch.Tensor] = {}
    for name, (onnx_name, w, b) in zip(order, convs):
        conv = mods[name]
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise VmatteError(f"{path}: {onnx_name} has shape {tuple(w.shape)}, {name} expects "
                              f"{tuple(conv.weight.shape)}; not an RVM {variant} export")
        sd[f"{name}.weight"] = w
        if conv.bias is not None:
            sd[f"{name}.bias"] = b if b is not None else torch.zeros(w.shape[0])
        elif name in bn_after:
            bn = mods[bn_after[name]]
            n = w.shape[0]
            sd[f"{bn_after[name]}.weight"] = torch.ones(n)
            sd[f"{bn_after[name]}.bias"] = b if b is not None else torch.zeros(n)
            sd[f"{bn_after[name]}.running_mean"] = torch.zeros(n)
            sd[f"{bn_after[name]}.running_var"] = torch.full((n,), 1.0 - bn.eps)
            sd[f"{bn_after[name]}.num_batches_tracked"] = torch.tensor(0)
        elif b is not None and bool(b.abs().max() > 0):
            raise VmatteError(f"{path}: {onnx_name} carries a bias that {name} has nowhere to put")
    return sd
