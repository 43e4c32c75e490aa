"""`--device auto` resolution shared by every command."""
from __future__ import annotations

import torch

from saekit.common.errors import SaekitError


def resolve_device(spec: str = "auto") -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise SaekitError(f"--device {spec!r} is not a torch device (expected auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SaekitError(f"--device {spec!r} asked for CUDA but no CUDA device is available; use --device cpu")
    return device
