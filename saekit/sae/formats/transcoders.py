"""Transcoders in SAELens' and sparsify's formats (saekit transcoders: saekit.sae.paired).

SAELens (sae_lens.saes.transcoder): architectures `transcoder` (ReLU), `skip_transcoder` (ReLU + W_skip),
`jumprelu_transcoder` and `jumprelu_skip_transcoder` (a threshold per latent). The input is never
centred by b_dec (apply_b_dec_to_input must be false), b_dec and W_dec live in the output's space
(d_out), the output hook is `metadata.hook_name_out`, and only the input is scaled by
normalize_activations=expected_average_only_in.
  load:   transcoder -> relu, jumprelu_transcoder -> jumprelu, `skip_` -> the same with skip=True.
  export: relu -> transcoder, jumprelu / batchtopk / matryoshka -> jumprelu_transcoder (the top-k style
          ones with their global threshold, as SAELens saves trained BatchTopK SAEs), `skip_` variants
          with a skip path; TopK and gated transcoders have no SAELens architecture and are refused.
sparsify (sparsify.sparse_coder.SparseCoder): `transcode=true` encodes the module's input without
subtracting b_dec and decodes its output (same width), `skip_connection=true` adds x W_skip^T; the
hook-point folder names the module, `layers.L.mlp` -> input blocks.L.ln2.hook_normalized, target
blocks.L.hook_mlp_out. TopK only.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from saekit.common.atomic import write_json_atomic
from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.sae.formats.common import build, json_safe, log_threshold, require
from saekit.sae.formats.export_common import raw_weights, refuse, staged_dir
from saekit.sae.formats.hooks import from_module_path, is_transformerlens

if TYPE_CHECKING:
    from saekit.sae.base import SAE

SAELENS_ARCHS = {"transcoder": ("relu", False), "skip_transcoder": ("relu", True),
                 "jumprelu_transcoder": ("jumprelu", False), "jumprelu_skip_transcoder": ("jumprelu", True)}
_MLP_OUT = re.compile(r"^blocks\.(\d+)\.hook_mlp_out$")
_MLP_IN = re.compile(r"^blocks\.(\d+)\.(ln2\.hook_normalized|hook_mlp_in)$")


def mlp_output_of(hook: str) -> str:
    """The MLP output a transcoder reading ``hook`` (an MLP's input) writes, or "" when it is not one."""
    m = _MLP_IN.match(hook)
    return f"blocks.{m.group(1)}.hook_mlp_out" if m else ""


def mlp_input_of(hook: str) -> str:
    m = _MLP_OUT.match(hook)
    return f"blocks.{m.group(1)}.ln2.hook_normalized" if m else ""


def _hook(name: str) -> str:
    return name if is_transformerlens(name) else (f"module:{name}" if name else "")


def load_saelens(cfg: JSONObject, raw: dict[str, torch.Tensor], normalization: str, scale: float,
                 what: str, origin: str) -> SAE:
    arch, skip = SAELENS_ARCHS[cfg["architecture"]]
    if cfg.get("apply_b_dec_to_input", False):
        raise SaekitError(f"{what}: a transcoder with apply_b_dec_to_input=true is not one SAELens can build")
    try:
        d_in, d_sae, d_out = int(cfg["d_in"]), int(cfg["d_sae"]), int(cfg["d_out"])
    except (KeyError, TypeError, ValueError):
        raise SaekitError(f"{what}: a transcoder's cfg.json needs integer d_in, d_sae and d_out") from None
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_out), "b_dec": (d_out,)}
    if skip:
        shapes["W_skip"] = (d_out, d_in)
    if arch == "jumprelu":
        shapes["threshold"] = (d_sae,)
    t = require(raw, shapes, what)
    tensors = {k: t[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec")}
    if skip:
        tensors["W_skip"] = t["W_skip"]
    if arch == "jumprelu":
        tensors["log_threshold"] = log_threshold(t["threshold"])
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    hook_in = str(meta.get("hook_name") or "")
    hook_out = str(meta.get("hook_name_out") or mlp_output_of(hook_in) or "unknown:output")
    source = {"format": "saelens", "path": origin, "architecture": cfg["architecture"], "hook_name": hook_in,
              "hook_name_out": hook_out, "model_name": meta.get("model_name"), "config": json_safe(cfg)}
    return build(arch, d_in=d_in, d_sae=d_sae, tensors=tensors, source=source, hook=_hook(hook_in),
                 model_id=str(meta.get("model_name") or ""), normalization=normalization, norm_scale=scale,
                 target_hooks=(_hook(hook_out),), d_out=d_out, skip=skip)


SAELENS_EXPORT = {"relu": "transcoder", "jumprelu": "jumprelu_transcoder", "batchtopk": "jumprelu_transcoder",
                  "matryoshka": "jumprelu_transcoder"}


def export_saelens(sae: SAE, out: Path, weights_name: str, cfg_name: str) -> Path:
    from safetensors.torch import save_file

    cfg = sae.cfg
    if cfg.arch not in SAELENS_EXPORT:
        raise refuse("saelens", f"{cfg.arch} transcoder", "ReLU and JumpReLU transcoders (BatchTopK and Matryoshka "
                                                         "become JumpReLU ones with their threshold)")
    w = raw_weights(sae, "saelens")
    base = SAELENS_EXPORT[cfg.arch]
    arch = base.replace("transcoder", "skip_transcoder") if cfg.skip else base
    tensors = {"W_enc": w.W_enc, "b_enc": w.b_enc, "W_dec": w.W_dec, "b_dec": w.b_dec}
    if cfg.skip:
        tensors["W_skip"] = w.extra["W_skip"]
    if cfg.arch == "jumprelu":
        tensors["threshold"] = w.extra["log_threshold"].double().exp().float()
    elif cfg.arch in ("batchtopk", "matryoshka"):
        tensors["threshold"] = torch.full((cfg.d_sae,), max(float(w.extra["threshold"]), 0.0))
    doc: JSONObject = {
        "architecture": arch, "d_in": cfg.d_in, "d_sae": cfg.d_sae, "d_out": cfg.d_out, "dtype": "float32",
        "device": "cpu", "apply_b_dec_to_input": False, "normalize_activations": "none", "reshape_activations": "none",
        "metadata": {"model_name": cfg.model_id or None, "hook_name": cfg.hook.removeprefix("module:") or None,
                     "hook_name_out": cfg.target_hooks[0].removeprefix("module:"), "hook_head_index": None,
                     "prepend_bos": True, "exported_by": "saekit", "saekit_arch": cfg.arch},
    }
    with staged_dir(out) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / weights_name))
        write_json_atomic(tmp / cfg_name, doc, indent=2)
    return out


def load_sparsify(cfg: JSONObject, raw: dict[str, torch.Tensor], d: int, m: int, k: int, hookpoint: str,
                  what: str, origin: str) -> SAE:
    skip = bool(cfg.get("skip_connection"))
    shapes = {"encoder.weight": (m, d), "encoder.bias": (m,), "W_dec": (m, d), "b_dec": (d,)}
    if skip:
        shapes["W_skip"] = (d, d)
    t = require(raw, shapes, what)
    target = str(cfg.get("saekit_target_hook") or from_module_path(hookpoint))
    hook = str(cfg.get("saekit_hook") or mlp_input_of(target))
    if not hook:
        raise SaekitError(f"{what}: a transcoder on {hookpoint!r} reads that module's input, which has no saekit hook "
                          f"name (sparsify transcoders of `layers.L.mlp` read blocks.L.ln2.hook_normalized)")
    tensors = {"W_enc": t["encoder.weight"].t().contiguous(), "b_enc": t["encoder.bias"], "W_dec": t["W_dec"],
               "b_dec": t["b_dec"]}
    if skip:
        tensors["W_skip"] = t["W_skip"]
    source = {"format": "sparsify", "path": origin, "hook_name": hookpoint, "transcode": True,
              "multi_topk": bool(cfg.get("multi_topk", False)), "config": json_safe(cfg)}
    return build("topk", d_in=d, d_sae=m, tensors=tensors, source=source, k=k, hook=hook, target_hooks=(target,),
                 d_out=d, skip=skip)


def sparsify_transcoder_doc(sae: SAE) -> tuple[JSONObject, dict[str, torch.Tensor]]:
    """(cfg.json fields, tensors) of a saekit TopK transcoder as a sparsify SparseCoder with transcode=true."""
    cfg = sae.cfg
    if cfg.d_out != cfg.d_in:
        raise SaekitError(f"cannot export a transcoder from d_in={cfg.d_in} to d_out={cfg.d_out} to sparsify: its "
                          f"transcoders write a module's output of the input's width")
    w = raw_weights(sae, "sparsify")
    tensors = {"encoder.weight": w.W_enc.t().contiguous(), "encoder.bias": w.b_enc, "W_dec": w.W_dec, "b_dec": w.b_dec}
    if cfg.skip:
        tensors["W_skip"] = w.extra["W_skip"]
    doc = {"skip_connection": cfg.skip, "transcode": True, "saekit_target_hook": cfg.target_hooks[0]}
    return doc, tensors
