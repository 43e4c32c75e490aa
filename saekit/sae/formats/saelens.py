"""SAELens checkpoints: DIR/cfg.json + DIR/sae_weights.safetensors (+ activation_scaler.json).

Loads standard (ReLU), topk, batchtopk (training checkpoints, with their threshold; SAELens saves
finished BatchTopK SAEs as jumprelu), matryoshka_batchtopk, jumprelu and gated SAEs, and the
transcoders (saekit.sae.formats.transcoders), in SAELens' v6
layout (metadata.hook_name) and the older flat one (hook_name, activation_fn_str=topk).
apply_b_dec_to_input=False is folded into b_enc; rescale_acts_by_decoder_norm into the weights;
normalize_activations=expected_average_only_in becomes saekit's input scale from the stored factor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TYPE_CHECKING

import torch

from saekit.common.errors import SaekitError
from saekit.common.jsonfile import read_json_object
from saekit.sae.formats.common import build, fold_input_bias, json_safe, log_threshold, read_safetensors, require
from saekit.common.atomic import write_json_atomic
from saekit.sae.formats.export_common import raw_weights, refuse, staged_dir
from saekit.sae.formats.hooks import is_transformerlens
from saekit.sae.formats.transcoders import SAELENS_ARCHS, export_saelens, load_saelens

if TYPE_CHECKING:  # saekit.sae.base loads SAEs through this package
    from saekit.sae.base import SAE

NAME = "saelens"
CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
SCALER = "activation_scaler.json"
ARCH_MAP = {"standard": "relu", "topk": "topk", "batchtopk": "batchtopk", "jumprelu": "jumprelu", "gated": "gated",
            "matryoshka_batchtopk": "matryoshka"}


def matches(path: Path) -> bool:
    return path.is_dir() and (path / CFG).is_file() and (path / WEIGHTS).is_file()


def _architecture(cfg: dict[str, Any], what: str) -> str:
    arch = cfg.get("architecture") or "standard"
    act = cfg.get("activation_fn") or cfg.get("activation_fn_str")
    if arch == "standard" and act == "topk":  # SAELens <= 5 wrote TopK SAEs this way
        arch = "topk"
    elif arch == "standard" and act not in (None, "relu"):
        raise SaekitError(f"{what}: activation function {act!r} is not supported (relu or topk)")
    if arch not in ARCH_MAP and arch not in SAELENS_ARCHS:
        raise SaekitError(f"{what}: SAELens architecture {arch!r} is not supported "
                          f"(supported: {', '.join([*ARCH_MAP, *SAELENS_ARCHS])}); other variants would load wrong")
    return arch


def _k(cfg: dict[str, Any], what: str) -> float:
    k = cfg.get("k", (cfg.get("activation_fn_kwargs") or {}).get("k"))
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k <= 0:
        raise SaekitError(f"{what}: TopK SAE config has no positive k (found {k!r})")
    return float(k)


def _scale(path: Path, cfg: dict[str, Any], what: str) -> tuple[str, float]:
    norm = cfg.get("normalize_activations") or "none"
    if norm == "none":
        return "none", 1.0
    if norm == "expected_average_only_in":
        sp = path / SCALER
        factor = read_json_object(sp, what).get("scaling_factor") if sp.is_file() else None
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise SaekitError(f"{what}: normalize_activations=expected_average_only_in but no scaling factor is "
                              f"stored ({SCALER} missing or without scaling_factor); the SAE's input scale is unknown")
        return "scale", float(factor)
    raise SaekitError(f"{what}: normalize_activations={norm!r} is not supported (none, or expected_average_only_in "
                      f"with its stored factor)")


def load(path: Path, origin: str) -> SAE:
    what = f"SAELens checkpoint {path}"
    if not path.is_dir():
        raise SaekitError(f"{what} is not a directory holding {CFG} and {WEIGHTS}")
    cfg = read_json_object(path / CFG, "SAELens config")
    arch = _architecture(cfg, what)
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    hook_name = meta.get("hook_name", cfg.get("hook_name")) or ""
    head = meta.get("hook_head_index", cfg.get("hook_head_index"))
    if head is not None:
        raise SaekitError(f"{what}: SAEs on one attention head (hook_head_index={head}) are not supported")
    if (cfg.get("reshape_activations") or "none") != "none":
        raise SaekitError(f"{what}: reshape_activations={cfg['reshape_activations']!r} (per-head hook_z) is not supported")
    try:
        d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
    except (KeyError, TypeError, ValueError):
        raise SaekitError(f"{what}: {CFG} needs integer d_in and d_sae") from None
    normalization, scale = _scale(path, cfg, what)
    raw = read_safetensors(path / WEIGHTS, what)
    if arch in SAELENS_ARCHS:
        return load_saelens({**cfg, "architecture": arch}, raw, normalization, scale, what, origin)
    m, d = d_sae, d_in
    shapes: dict[str, tuple[int, ...]] = {"W_enc": (d, m), "W_dec": (m, d), "b_dec": (d,)}
    if arch == "gated":
        shapes.update(b_gate=(m,), b_mag=(m,), r_mag=(m,))
    else:
        shapes["b_enc"] = (m,)
    if arch == "jumprelu":
        shapes["log_threshold" if "log_threshold" in raw and "threshold" not in raw else "threshold"] = (m,)
    if arch in ("batchtopk", "matryoshka_batchtopk"):
        shapes["topk_threshold"] = ()
    if "finetuning_scaling_factor" in raw or cfg.get("finetuning_scaling_factor"):
        raise SaekitError(f"{what}: finetuning_scaling_factor is not supported")
    t = require(raw, shapes, what)
    W_enc, W_dec, b_dec = t["W_enc"], t["W_dec"], t["b_dec"]
    b_enc = t["b_gate"] if arch == "gated" else t["b_enc"]
    apply_b_dec = cfg.get("apply_b_dec_to_input", True)
    if not apply_b_dec:
        shift = fold_input_bias(W_enc, torch.zeros_like(b_enc), b_dec)
        b_enc = b_enc + shift
        if arch == "gated":
            t["b_mag"] = (t["b_mag"].double() + shift.double() * t["r_mag"].double().exp()).float()
    if arch in ("topk", "batchtopk", "matryoshka_batchtopk") and cfg.get("rescale_acts_by_decoder_norm", False):
        n = W_dec.double().norm(dim=-1)
        W_enc, b_enc, W_dec = (W_enc.double() * n).float(), (b_enc.double() * n).float(), (W_dec.double() / n[:, None]).float()
    tensors = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec}
    extra: dict[str, Any] = {}
    if arch == "jumprelu":
        tensors["log_threshold"] = t["log_threshold"] if "log_threshold" in t else log_threshold(t["threshold"])
    elif arch == "gated":
        tensors.update(b_mag=t["b_mag"], r_mag=t["r_mag"])
    elif arch in ("batchtopk", "matryoshka_batchtopk"):
        tensors["threshold"] = t["topk_threshold"].clamp_min(0)
    k = None
    if arch in ("topk", "batchtopk", "matryoshka_batchtopk"):
        k = max(1, round(_k(cfg, what)))
    if arch == "matryoshka_batchtopk":
        widths = [int(w) for w in cfg.get("matryoshka_widths") or []]
        extra["matryoshka_prefixes"] = tuple(widths if widths and widths[-1] == d_sae else [*widths, d_sae])
    source = {"format": NAME, "path": origin, "architecture": arch, "hook_name": hook_name,
              "model_name": meta.get("model_name", cfg.get("model_name")), "config": json_safe(cfg)}
    hook = hook_name if is_transformerlens(hook_name) else (f"module:{hook_name}" if hook_name else "")
    model_id = str(meta.get("model_name", cfg.get("model_name")) or "")
    return build(ARCH_MAP[arch], d_in=d_in, d_sae=d_sae, tensors=tensors, source=source, k=k, hook=hook,
                 model_id=model_id, normalization=normalization, norm_scale=scale, **extra)


EXPORT_ARCH = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "matryoshka": "jumprelu",
               "jumprelu": "jumprelu", "gated": "gated"}


SAELENS_FORMAT_VERSION = "6.0.0"


def export(sae: SAE, out: Path) -> Path:
    """Write sae as a SAELens inference checkpoint (cfg.json + sae_weights.safetensors) in out.

    BatchTopK and Matryoshka SAEs become jumprelu SAEs with their global threshold, as SAELens itself
    saves trained BatchTopK SAEs; the input scale is folded into the weights (normalize_activations=none)."""
    from safetensors.torch import save_file

    cfg = sae.cfg
    if cfg.target_hooks:
        return export_saelens(sae, out, WEIGHTS, CFG)
    if cfg.in_hooks:
        raise SaekitError("cannot export a crosscoder to saelens: SAELens has no crosscoder architecture")
    if cfg.arch not in EXPORT_ARCH:
        raise refuse(NAME, cfg.arch, ", ".join(EXPORT_ARCH))
    w = raw_weights(sae, NAME)
    arch = EXPORT_ARCH[cfg.arch]
    tensors = {"W_enc": w.W_enc, "W_dec": w.W_dec, "b_dec": w.b_dec}
    if arch == "gated":
        tensors.update(b_gate=w.b_enc, b_mag=w.extra["b_mag"], r_mag=w.extra["r_mag"])
    else:
        tensors["b_enc"] = w.b_enc
    if cfg.arch == "jumprelu":
        tensors["threshold"] = w.extra["log_threshold"].double().exp().float()
    elif cfg.arch in ("batchtopk", "matryoshka"):
        tensors["threshold"] = torch.full((cfg.d_sae,), max(float(w.extra["threshold"]), 0.0))
    hook = cfg.hook.removeprefix("module:")
    doc: dict[str, Any] = {
        "architecture": arch, "d_in": cfg.d_in, "d_sae": cfg.d_sae, "dtype": "float32", "device": "cpu",
        "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
        "metadata": {"model_name": cfg.model_id or None, "hook_name": hook or None, "hook_head_index": None,
                     "prepend_bos": True, "exported_by": "saekit", "saekit_arch": cfg.arch,
                     # without a 6.x version SAELens reads the file as a pre-6.0 config and drops the metadata
                     "sae_lens_version": SAELENS_FORMAT_VERSION},
    }
    if arch == "topk":
        doc.update(k=cfg.k, rescale_acts_by_decoder_norm=False)
    with staged_dir(out) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / WEIGHTS))
        write_json_atomic(tmp / CFG, doc, indent=2)
    return out
