"""sparsify (EleutherAI) checkpoints: one folder per hook point, DIR/<hookpoint>/cfg.json + sae.safetensors.

TopK SAEs (activation=topk, also trained with multi_topk, which changes only the training loss)
load as saekit topk; the folder name (a Hugging Face module path such as `layers.6`) becomes the
TransformerLens hook. Transcoders (transcode=true, with or without skip_connection) load as saekit
TopK transcoders (saekit.sae.formats.transcoders). A skip connection on an autoencoder and groupmax
activations are refused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TYPE_CHECKING

from saekit.common.errors import SaekitError
from saekit.common.jsonfile import read_json_object
from saekit.sae.formats.common import build, int_of, json_safe, read_safetensors, require
from saekit.common.atomic import write_json_atomic
from saekit.sae.formats.export_common import raw_weights, refuse, staged_dir
from saekit.sae.formats.hooks import from_module_path
from saekit.sae.formats.transcoders import load_sparsify, sparsify_transcoder_doc

if TYPE_CHECKING:  # saekit.sae.base loads SAEs through this package
    from saekit.sae.base import SAE

NAME = "sparsify"
CFG = "cfg.json"
WEIGHTS = "sae.safetensors"


def matches(path: Path) -> bool:
    return path.is_dir() and (path / CFG).is_file() and (path / WEIGHTS).is_file()


def hookpoints(path: Path) -> list[str]:
    """Sub-folders of a multi-hook sparsify save that hold one SAE each."""
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if matches(p))


def load(path: Path, origin: str) -> SAE:
    what = f"sparsify checkpoint {path}"
    if path.is_dir() and not (path / CFG).exists():
        inner = hookpoints(path)
        if inner:
            listed = ", ".join(inner[:8]) + (" ..." if len(inner) > 8 else "")
            raise SaekitError(f"{what} holds one SAE per hook point; name one: {path}/<hookpoint> with <hookpoint> "
                              f"in {listed}")
    if not path.is_dir():
        raise SaekitError(f"{what} is not a directory holding {CFG} and {WEIGHTS}")
    cfg = read_json_object(path / CFG, "sparsify config")
    if cfg.get("skip_connection") and not cfg.get("transcode"):
        raise SaekitError(f"{what} has a skip connection (W_skip) on an autoencoder, which a saekit SAE cannot "
                          f"represent (saekit's skip path belongs to transcoders)")
    act = cfg.get("activation", "topk")
    if act != "topk":
        raise SaekitError(f"{what}: activation {act!r} is not supported (only topk)")
    d = int_of(cfg.get("d_in"), what, "d_in")
    k = int_of(cfg.get("k"), what, "k")
    raw = read_safetensors(path / WEIGHTS, what)
    if "W_skip" in raw and not cfg.get("transcode"):
        raise SaekitError(f"{what} has a W_skip tensor (skip connection), which a saekit SAE cannot represent")
    if "encoder.weight" not in raw or raw["encoder.weight"].dim() != 2:
        raise SaekitError(f"{what} is missing the 2-d tensor 'encoder.weight' (has {sorted(raw)})")
    m = int(raw["encoder.weight"].shape[0])
    expected_m = int(cfg.get("num_latents") or 0) or d * int(cfg.get("expansion_factor", 32))
    if m != expected_m:
        raise SaekitError(f"{what}: encoder.weight has {m} latents but {CFG} gives {expected_m}")
    if cfg.get("transcode"):
        return load_sparsify(cfg, raw, d, m, k, path.name, what, origin)
    t = require(raw, {"encoder.weight": (m, d), "encoder.bias": (m,), "W_dec": (m, d), "b_dec": (d,)}, what)
    hookpoint = path.name
    source: dict[str, Any] = {"format": NAME, "path": origin, "hook_name": hookpoint,
                              "multi_topk": bool(cfg.get("multi_topk", False)), "config": json_safe(cfg)}
    tensors = {"W_enc": t["encoder.weight"].t().contiguous(), "b_enc": t["encoder.bias"], "W_dec": t["W_dec"],
               "b_dec": t["b_dec"]}
    hook = str(cfg.get("saekit_hook") or from_module_path(hookpoint))  # a saekit export records its hook
    return build("topk", d_in=d, d_sae=m, tensors=tensors, source=source, k=k, hook=hook)


def export(sae: SAE, out: Path) -> Path:
    """Write sae as one sparsify hook-point folder (cfg.json + sae.safetensors) in out."""
    from safetensors.torch import save_file

    cfg = sae.cfg
    if cfg.arch != "topk":
        raise refuse(NAME, cfg.arch, "TopK SAEs and TopK transcoders")
    if cfg.in_hooks:
        raise SaekitError("cannot export a crosscoder to sparsify: sparsify has no crosscoder")
    tc: dict = {}
    if cfg.target_hooks:
        tc, tensors = sparsify_transcoder_doc(sae)
    else:
        w = raw_weights(sae, NAME)
        tensors = {"encoder.weight": w.W_enc.t().contiguous(), "encoder.bias": w.b_enc, "W_dec": w.W_dec,
                   "b_dec": w.b_dec}
    doc = {"activation": "topk", "expansion_factor": max(1, cfg.d_sae // cfg.d_in), "normalize_decoder": True,
           "num_latents": cfg.d_sae, "k": cfg.k, "multi_topk": False, "skip_connection": False, "transcode": False,
           "d_in": cfg.d_in, "saekit_hook": cfg.hook, **tc}  # sparsify drops fields it does not know
    with staged_dir(out) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt"})
        write_json_atomic(tmp / CFG, doc, indent=2)
    return out
