"""saev checkpoints: sae.pt = one line of JSON (the SparseAutoencoder config) followed by a torch
state dict; the training run's config.json next to it records the ViT layer and the token selection.

saev's SAE is a ReLU SAE: z = ReLU((x - b_dec) W_enc + b_enc), x_hat = z W_dec + b_dec -> saekit relu.
data.layer (a ViT block index) -> blocks.<layer>.hook_resid_post; data.patches "cls" / "patches" ->
tokens "cls" / "patches". saev trains on activations it centres and rescales with statistics it does
not save, so the SAE is loaded as saev computes it, on the inputs it is given (normalization none).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.common.jsonfile import read_json_object
from saekit.sae.formats.common import build, int_of, json_safe, read_torch_state, require
from saekit.sae.formats.hooks import from_layer

if TYPE_CHECKING:  # saekit.sae.base loads SAEs through this package
    from saekit.sae.base import SAE

NAME = "saev"
WEIGHTS = "sae.pt"
TOKENS = {"cls": "cls", "patches": "patches"}


def _file(path: Path) -> Path:
    return path / WEIGHTS if path.is_dir() else path


def header(path: Path) -> JSONObject | None:
    """The JSON header of a saev checkpoint file, or None when the file is not one."""
    f = _file(path)
    if not f.is_file():
        return None
    try:
        with open(f, "rb") as fd:
            line = fd.readline(1 << 16)
        doc = json.loads(line.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and "d_vit" in doc else None


def matches(path: Path) -> bool:
    return header(path) is not None


def load(path: Path, origin: str) -> SAE:
    f = _file(path)
    what = f"saev checkpoint {f}"
    head = header(path)
    if head is None:
        raise SaekitError(f"{what} is not a saev checkpoint (expected a JSON line with d_vit, then a state dict)")
    d = int_of(head.get("d_vit"), what, "d_vit")
    m = d * int_of(head.get("exp_factor"), what, "exp_factor")
    with open(f, "rb") as fd:
        fd.readline(1 << 16)
        state = read_torch_state(io.BytesIO(fd.read()), what)
    t = require(state, {"W_enc": (d, m), "b_enc": (m,), "W_dec": (m, d), "b_dec": (d,)}, what)
    extra = sorted(set(state) - set(t))
    if extra:
        raise SaekitError(f"{what} has tensors {extra} that saev's ReLU SAE does not have (unsupported variant)")
    run_cfg_path = f.parent / "config.json"
    run_cfg = read_json_object(run_cfg_path, "saev run config") if run_cfg_path.is_file() else {}
    data = run_cfg.get("data") if isinstance(run_cfg.get("data"), dict) else {}
    layer = data.get("layer")
    patches = data.get("patches")
    if isinstance(layer, int):
        hook = from_layer(layer)
    elif layer is None:
        hook = ""
    else:
        raise SaekitError(f"{what}: data.layer={layer!r} (several layers pooled) has no single hook")
    if patches is not None and patches not in TOKENS:
        raise SaekitError(f"{what}: token selection data.patches={patches!r} is not supported (cls or patches)")
    source = {"format": NAME, "path": origin, "layer": layer, "patches": patches, "config": json_safe(head),
              "run_config": json_safe(run_cfg), "hook_name": f"layer {layer}" if layer is not None else "",
              "note": "saev centres/rescales activations during training with statistics it does not save"}
    return build("relu", d_in=d, d_sae=m, tensors=t, source=source, hook=hook,
                 tokens=TOKENS.get(patches or "", "all"))
