"""Gemma Scope SAEs: params.npz (numpy arrays W_enc, W_dec, b_enc, b_dec, threshold) -> saekit jumprelu.

Gemma Scope's encoder does not subtract b_dec first (folded into b_enc). The hook and the model
come from the release's naming, read from the spec (the hub repo and the folder path):
gemma-scope-2b-pt-res .../layer_12/... -> model gemma-2-2b, blocks.12.hook_resid_post; -mlp ->
hook_mlp_out; -att -> attn.hook_z; an `embedding` folder -> hook_embed (whose weights Gemma Scope
trained on embeddings scaled by sqrt(d_model): that scale is undone as SAELens does).
"""
from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from saekit.common.errors import SaekitError
from saekit.sae.formats.common import build, fold_input_bias, log_threshold, require

if TYPE_CHECKING:  # saekit.sae.base loads SAEs through this package
    from saekit.sae.base import SAE

NAME = "gemmascope"
WEIGHTS = "params.npz"


def _file(path: Path) -> Path:
    return path / WEIGHTS if path.is_dir() else path


def matches(path: Path) -> bool:
    return _file(path).is_file() and _file(path).name.endswith(".npz")


def _naming(origin: str) -> tuple[str, str]:
    """(hook, model) from a Gemma Scope path such as hf:google/gemma-scope-2b-pt-res/layer_3/width_16k/..."""
    low = origin.lower()
    m = re.search(r"gemma-scope-(\d+b)-(pt|it)-(res|mlp|att)", low)
    model = (f"gemma-2-{m.group(1)}" + ("-it" if m.group(2) == "it" else "")) if m else ""
    site = m.group(3) if m else ""
    layer = re.search(r"layer_(\d+)", low)
    if "embedding" in low and site == "res":
        return "hook_embed", model
    if layer is None or not site:
        return "", model
    n = int(layer.group(1))
    return {"res": f"blocks.{n}.hook_resid_post", "mlp": f"blocks.{n}.hook_mlp_out",
            "att": f"blocks.{n}.attn.hook_z"}[site], model


def load(path: Path, origin: str) -> SAE:
    f = _file(path)
    what = f"Gemma Scope file {f}"
    try:
        with np.load(f, allow_pickle=False) as data:
            arrays = {(("W_" + key[2:]) if key.startswith("w_") else key): np.asarray(data[key]) for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise SaekitError(f"{what} is not a readable .npz file ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    if "W_enc" not in arrays or arrays["W_enc"].ndim != 2:
        raise SaekitError(f"{what} is missing the 2-d array 'W_enc' (has {sorted(arrays)})")
    d, m = arrays["W_enc"].shape
    tensors = {k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()}
    if "scaling_factor" in tensors:
        sf = tensors.pop("scaling_factor")
        if not torch.allclose(sf, torch.ones_like(sf)):
            raise SaekitError(f"{what} has a finetuning scaling_factor other than 1, which is not supported")
    t = require(tensors, {"W_enc": (d, m), "W_dec": (m, d), "b_enc": (m,), "b_dec": (d,), "threshold": (m,)}, what)
    unknown = sorted(set(tensors) - set(t))
    if unknown:
        raise SaekitError(f"{what} has arrays {unknown} that a Gemma Scope JumpReLU SAE does not have")
    hook, model = _naming(origin)
    if hook == "hook_embed":
        t["W_enc"], t["W_dec"] = t["W_enc"] / math.sqrt(d), t["W_dec"] * math.sqrt(d)
    out = {"W_enc": t["W_enc"], "b_enc": fold_input_bias(t["W_enc"], t["b_enc"], t["b_dec"]), "W_dec": t["W_dec"],
           "b_dec": t["b_dec"], "log_threshold": log_threshold(t["threshold"])}
    source = {"format": NAME, "path": origin, "hook_name": hook, "model_name": model}
    return build("jumprelu", d_in=d, d_sae=m, tensors=out, source=source, hook=hook, model_id=model)
