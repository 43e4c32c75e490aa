"""dictionary_learning checkpoints: DIR/ae.pt (a torch state dict) + DIR/config.json ({"trainer": {...}}).

dict_class -> saekit architecture: AutoEncoder -> relu (decoder rows normalised as the library's own
loader does), AutoEncoderTopK -> topk, BatchTopKSAE -> batchtopk, MatryoshkaBatchTopKSAE ->
matryoshka, JumpReluAutoEncoder -> jumprelu (its encoder does not subtract b_dec: folded into b_enc),
GatedAutoEncoder -> gated. The trainer's `layer` + `submodule_name` give the hook.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TYPE_CHECKING

import torch

from saekit.common.errors import SaekitError
from saekit.common.jsonfile import read_json_object
from saekit.sae.formats.common import (build, fold_input_bias, int_of, json_safe, log_threshold, read_torch_state,
                                       require)
from saekit.common.atomic import write_json_atomic
from saekit.sae.formats.export_common import raw_weights, refuse, staged_dir
from saekit.sae.formats.hooks import from_layer

if TYPE_CHECKING:  # saekit.sae.base loads SAEs through this package
    from saekit.sae.base import SAE

NAME = "dictlearn"
WEIGHTS = "ae.pt"
CONFIG = "config.json"
ARCH_MAP = {"AutoEncoder": "relu", "AutoEncoderTopK": "topk", "BatchTopKSAE": "batchtopk",
            "MatryoshkaBatchTopKSAE": "matryoshka", "JumpReluAutoEncoder": "jumprelu", "GatedAutoEncoder": "gated"}
TRAINERS = {"AutoEncoder": "StandardTrainer", "AutoEncoderTopK": "TopKTrainer", "BatchTopKSAE": "BatchTopKTrainer",
            "MatryoshkaBatchTopKSAE": "MatryoshkaBatchTopKTrainer", "JumpReluAutoEncoder": "JumpReluTrainer",
            "GatedAutoEncoder": "GatedSAETrainer"}


def matches(path: Path) -> bool:
    return path.is_dir() and (path / WEIGHTS).is_file()


def _dims(state: dict[str, torch.Tensor], key: str, transposed: bool, what: str) -> tuple[int, int]:
    if key not in state or state[key].dim() != 2:
        raise SaekitError(f"{what} is missing the 2-d tensor {key!r} (has {sorted(state)})")
    a, b = state[key].shape
    return (b, a) if transposed else (a, b)  # (d_in, d_sae)


def load(path: Path, origin: str) -> SAE:
    what = f"dictionary_learning checkpoint {path}"
    if not path.is_dir():
        raise SaekitError(f"{what} is not a directory holding {WEIGHTS} and {CONFIG}")
    doc = read_json_object(path / CONFIG, "dictionary_learning config")
    trainer = doc.get("trainer")
    if not isinstance(trainer, dict) or "dict_class" not in trainer:
        raise SaekitError(f"{what}: {CONFIG} has no trainer.dict_class")
    cls = trainer["dict_class"]
    if cls not in ARCH_MAP:
        raise SaekitError(f"{what}: dict_class {cls!r} is not supported (supported: {', '.join(ARCH_MAP)})")
    state = read_torch_state(path / WEIGHTS, what)
    arch = ARCH_MAP[cls]
    if cls in ("MatryoshkaBatchTopKSAE", "JumpReluAutoEncoder"):
        d, m = _dims(state, "W_enc", False, what)
    else:
        d, m = _dims(state, "encoder.weight", True, what)
    k = None
    extra: dict[str, Any] = {}
    if cls in ("AutoEncoderTopK", "BatchTopKSAE", "MatryoshkaBatchTopKSAE"):
        k = int_of(trainer.get("k", state.get("k")), what, "k")
        if "k" in state and int(state["k"].item()) != k:
            raise SaekitError(f"{what}: config k={k} differs from the checkpoint's k={int(state['k'].item())}")
    if cls == "AutoEncoder":
        t = require(state, {"bias": (d,), "encoder.weight": (m, d), "encoder.bias": (m,), "decoder.weight": (d, m)}, what)
        W_enc, b_enc, W_dec = t["encoder.weight"].t(), t["encoder.bias"], t["decoder.weight"].t()
        norms = W_dec.norm(dim=1)
        if not torch.allclose(norms, torch.ones_like(norms)):  # what AutoEncoder.from_pretrained does
            W_dec, W_enc, b_enc = W_dec / norms[:, None], W_enc * norms, b_enc * norms
        tensors = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": t["bias"]}
    elif cls in ("AutoEncoderTopK", "BatchTopKSAE"):
        t = require(state, {"encoder.weight": (m, d), "encoder.bias": (m,), "decoder.weight": (d, m), "b_dec": (d,),
                            "threshold": ()}, what, optional=("threshold",))
        tensors = {"W_enc": t["encoder.weight"].t(), "b_enc": t["encoder.bias"], "W_dec": t["decoder.weight"].t(),
                   "b_dec": t["b_dec"]}
        if arch == "batchtopk":
            tensors["threshold"] = t.get("threshold", torch.tensor(-1.0)).reshape(())
    elif cls == "MatryoshkaBatchTopKSAE":
        t = require(state, {"W_enc": (d, m), "b_enc": (m,), "W_dec": (m, d), "b_dec": (d,), "threshold": ()}, what)
        tensors = {k_: t[k_] for k_ in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}
        sizes = state.get("group_sizes")
        if sizes is None or sizes.dim() != 1 or int(sizes.sum()) != m or bool((sizes <= 0).any()):
            raise SaekitError(f"{what}: group_sizes must be positive and add up to dict_size={m}")
        extra["matryoshka_prefixes"] = tuple(int(x) for x in sizes.cumsum(0).tolist())
    elif cls == "JumpReluAutoEncoder":
        t = require(state, {"W_enc": (d, m), "b_enc": (m,), "W_dec": (m, d), "b_dec": (d,), "threshold": (m,)}, what)
        tensors = {"W_enc": t["W_enc"], "b_enc": fold_input_bias(t["W_enc"], t["b_enc"], t["b_dec"]),
                   "W_dec": t["W_dec"], "b_dec": t["b_dec"], "log_threshold": log_threshold(t["threshold"])}
    else:  # GatedAutoEncoder
        t = require(state, {"encoder.weight": (m, d), "decoder.weight": (d, m), "decoder_bias": (d,),
                            "gate_bias": (m,), "mag_bias": (m,), "r_mag": (m,)}, what)
        tensors = {"W_enc": t["encoder.weight"].t(), "b_enc": t["gate_bias"], "W_dec": t["decoder.weight"].t(),
                   "b_dec": t["decoder_bias"], "b_mag": t["mag_bias"], "r_mag": t["r_mag"]}
    layer = trainer.get("layer")
    sub = str(trainer.get("submodule_name") or "")
    hook = from_layer(layer, sub) if isinstance(layer, int) else (f"module:{sub}" if sub else "")
    source = {"format": NAME, "path": origin, "dict_class": cls, "hook_name": sub, "layer": layer,
              "model_name": trainer.get("lm_name"), "config": json_safe(doc)}
    return build(arch, d_in=d, d_sae=m, tensors={k_: v.contiguous() for k_, v in tensors.items()}, source=source,
                 k=k, hook=hook, model_id=str(trainer.get("lm_name") or ""), **extra)


EXPORT_CLASS = {v: k for k, v in ARCH_MAP.items()}


def latent_scale(sae: SAE) -> torch.Tensor:
    """Per-latent factor between a ReLU SAE's latents in dictionary_learning (unit-norm decoder rows in
    the raw activation space) and in saekit: the raw-space decoder row norms (1/norm_scale for saekit SAEs)."""
    return raw_weights(sae, NAME).W_dec.double().norm(dim=1).float()


def _layer(hook: str) -> tuple[int | None, str]:
    m = re.match(r"^blocks\.(\d+)\.hook_(resid_post|mlp_out|attn_out)$", hook)
    if m:
        return int(m.group(1)), f"{m.group(2)}_layer_{m.group(1)}"
    return None, hook.removeprefix("module:")


def export(sae: SAE, out: Path) -> Path:
    """Write sae as a dictionary_learning checkpoint (ae.pt + config.json) in out."""
    cfg = sae.cfg
    if cfg.target_hooks or cfg.in_hooks:
        raise refuse(NAME, f"{cfg.arch} {'transcoder' if cfg.target_hooks else 'crosscoder'}",
                     "SAEs of one hook's own activations")
    if cfg.arch not in EXPORT_CLASS:
        raise refuse(NAME, cfg.arch, ", ".join(EXPORT_CLASS))
    w = raw_weights(sae, NAME)
    cls = EXPORT_CLASS[cfg.arch]
    if cls == "AutoEncoder":
        # the library's loader rescales decoder rows to unit norm (and the latents with them); write them
        # unit-norm so that its loader changes nothing: its latents are saekit's times these norms
        n = w.W_dec.double().norm(dim=1)
        state = {"bias": w.b_dec, "encoder.weight": (w.W_enc.double() * n).float().t(),
                 "encoder.bias": (w.b_enc.double() * n).float(), "decoder.weight": (w.W_dec.double() / n[:, None]).float().t()}
    elif cls in ("AutoEncoderTopK", "BatchTopKSAE"):
        theta = w.extra.get("threshold", torch.tensor(-1.0)).reshape(())
        state = {"k": torch.tensor(cfg.k, dtype=torch.int32), "threshold": theta, "decoder.weight": w.W_dec.t(),
                 "encoder.weight": w.W_enc.t(), "encoder.bias": w.b_enc, "b_dec": w.b_dec}
    elif cls == "MatryoshkaBatchTopKSAE":
        ends = torch.tensor((0, *cfg.matryoshka_prefixes))
        state = {"k": torch.tensor(cfg.k, dtype=torch.int32), "threshold": w.extra["threshold"].reshape(()),
                 "group_sizes": ends.diff(), "W_enc": w.W_enc, "b_enc": w.b_enc, "W_dec": w.W_dec, "b_dec": w.b_dec}
    elif cls == "JumpReluAutoEncoder":
        b_enc = (w.b_enc.double() - w.b_dec.double() @ w.W_enc.double()).float()
        state = {"W_enc": w.W_enc, "b_enc": b_enc, "W_dec": w.W_dec, "b_dec": w.b_dec,
                 "threshold": w.extra["log_threshold"].double().exp().float()}
    else:  # GatedAutoEncoder
        state = {"decoder_bias": w.b_dec, "encoder.weight": w.W_enc.t(), "r_mag": w.extra["r_mag"],
                 "gate_bias": w.b_enc, "mag_bias": w.extra["b_mag"], "decoder.weight": w.W_dec.t()}
    layer, sub = _layer(cfg.hook)
    trainer = {"trainer_class": TRAINERS[cls], "dict_class": cls, "activation_dim": cfg.d_in, "dict_size": cfg.d_sae,
               "layer": layer, "lm_name": cfg.model_id or None, "submodule_name": sub or None,
               "exported_by": "saekit"}
    if cls == "AutoEncoder":
        trainer["saekit_latent_scale"] = latent_scale(sae).tolist()
    if cfg.k is not None and cls != "AutoEncoder" and cls != "JumpReluAutoEncoder" and cls != "GatedAutoEncoder":
        trainer["k"] = cfg.k
    with staged_dir(out) as tmp:
        torch.save({k: v.contiguous() for k, v in state.items()}, tmp / WEIGHTS)
        write_json_atomic(tmp / CONFIG, {"trainer": trainer}, indent=2)
    return out
