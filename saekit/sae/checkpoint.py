"""SAE checkpoints: DIR/config.json + DIR/weights.safetensors, written atomically, loaded without training code."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from saekit.common.atomic import atomic_file, write_bytes_atomic
from saekit.common.errors import SaekitError
from saekit.common.jsonfile import read_json_object
from saekit.sae.config import ARCHS, SAEConfig
from saekit.sae.construct import from_tensors

if TYPE_CHECKING:
    from saekit.sae.base import SAE

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
FORMAT = "saekit-sae"
FORMAT_VERSION = 1


def save_sae(sae: "SAE", directory: str | Path) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sae.to_save().items()}
    with atomic_file(out / WEIGHTS_NAME, fsync=True) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "arch": sae.cfg.arch})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **sae.cfg.to_dict()}
    write_bytes_atomic(out / CONFIG_NAME, (json.dumps(meta, indent=2) + "\n").encode(), fsync=True)


def read_config(directory: str | Path) -> SAEConfig:
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise SaekitError(f"{directory} is not an SAE checkpoint: {CONFIG_NAME} not found")
    meta = read_json_object(path)
    meta.pop("format", None)
    version = meta.pop("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise SaekitError(f"{path} has format_version {version}, this saekit reads {FORMAT_VERSION}")
    if meta.get("arch") not in ARCHS:
        raise SaekitError(f"{path}: unknown SAE architecture {meta.get('arch')!r} (expected one of {', '.join(ARCHS)})")
    return SAEConfig.from_dict(meta)


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> "SAE":
    cfg = read_config(directory)
    wpath = Path(directory) / WEIGHTS_NAME
    if not wpath.is_file():
        raise SaekitError(f"{directory} is not a complete SAE checkpoint: {WEIGHTS_NAME} not found")
    try:
        tensors = load_file(str(wpath))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SaekitError(f"{wpath} is not a readable safetensors file ({str(exc).splitlines()[0]})") from exc
    sae = from_tensors(cfg, tensors, where=str(wpath))
    sae.eval()
    return sae.to(device)
