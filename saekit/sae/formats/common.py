"""Shared pieces of the format adapters: reading tensors with one-line errors, checking shapes,
and building a saekit SAE of a given architecture from weights in saekit's convention."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Mapping

import torch

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject, JSONValue
from saekit.sae.construct import from_tensors
from saekit.sae.config import SAEConfig

if TYPE_CHECKING:  # saekit.sae.base loads SAEs through this package
    from saekit.sae.base import SAE

# JumpReLU thresholds are stored as log(theta); a source threshold <= 0 means "fires when > 0",
# which this positive stand-in reproduces up to activations below it (far under any tolerance).
MIN_THRESHOLD = 1e-30


def read_safetensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise SaekitError(f"{what}: {path.name} not found in {path.parent}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SaekitError(f"{what}: {path} is not a readable safetensors file ({str(exc).splitlines()[0]})") from None


def read_torch_state(path: Path | BinaryIO, what: str) -> dict[str, torch.Tensor]:
    """A torch.save'd state dict (loaded with weights_only=True: no code runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, non-tensor objects
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SaekitError(f"{what}: cannot read the torch state dict ({msg[:200]})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SaekitError(f"{what}: expected a state dict of tensors, found {type(state).__name__}")
    return dict(state)


def require(tensors: Mapping[str, torch.Tensor], shapes: Mapping[str, tuple[int, ...]], what: str,
            optional: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """tensors[name] as float32 for each name in shapes, checked; SaekitError naming the first problem."""
    out: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        if name not in tensors:
            if name in optional:
                continue
            raise SaekitError(f"{what} is missing tensor {name!r} (has {sorted(tensors)})")
        t = tensors[name]
        if tuple(t.shape) != tuple(shape):
            raise SaekitError(f"{what}: tensor {name!r} has shape {list(t.shape)}, expected {list(shape)}")
        if not t.is_floating_point() and t.numel() > 1:
            raise SaekitError(f"{what}: tensor {name!r} has dtype {t.dtype}, expected a floating-point tensor")
        t = t.detach().to(torch.float32)
        if not torch.isfinite(t).all():
            raise SaekitError(f"{what}: tensor {name!r} holds NaN or infinite values")
        out[name] = t
    return out


def int_of(value: object, what: str, field: str) -> int:
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or int(value) <= 0:
        raise SaekitError(f"{what}: {field} must be a positive integer, found {value!r}")
    return int(value)


def log_threshold(theta: torch.Tensor) -> torch.Tensor:
    """saekit's JumpReLU parameter for thresholds theta (computed in float64 to keep exp(log) = theta)."""
    return theta.to(torch.float64).clamp_min(MIN_THRESHOLD).log().to(torch.float32)


def fold_input_bias(W_enc: torch.Tensor, b_enc: torch.Tensor, b_dec: torch.Tensor) -> torch.Tensor:
    """b_enc' such that (x - b_dec) W_enc + b_enc' = x W_enc + b_enc: for sources that do not subtract
    b_dec before encoding (SAELens apply_b_dec_to_input=False, Gemma Scope, dictionary_learning JumpReLU)."""
    return (b_enc.double() + b_dec.double() @ W_enc.double()).float()


def build(arch: str, *, d_in: int, d_sae: int, tensors: dict[str, torch.Tensor], source: JSONObject,
          k: int | None = None, hook: str = "", model_id: str = "", tokens: str = "all",
          normalization: str = "none", norm_scale: float = 1.0,
          **cfg_extra: int | float | str | bool | tuple[int, ...] | tuple[str, ...] | None) -> SAE:
    """A saekit SAE from tensors in saekit's layout (W_enc [d_in, d_sae], W_dec [d_sae, d_in], ...)."""
    if not (math.isfinite(norm_scale) and norm_scale > 0):
        raise SaekitError(f"{source.get('format', 'source')}: scaling factor {norm_scale} is not a positive number")
    cfg = SAEConfig(arch=arch, d_in=d_in, d_sae=d_sae, k=k, hook=hook, normalization=normalization,
                    norm_scale=float(norm_scale), model_id=model_id, tokens=tokens, source=source, **cfg_extra)
    sae = from_tensors(cfg, tensors, where=str(source.get("path", "source")))
    return sae.eval()


def json_safe(obj: object) -> JSONValue:
    """obj with anything JSON cannot hold turned into strings (configs are kept in metadata)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    return str(obj)
