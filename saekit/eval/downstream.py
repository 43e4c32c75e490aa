"""Downstream fidelity: splice the SAE reconstruction into the model at its hook and compare outputs.

Language models: next-token CE loss recovered = (CE_zero - CE_sae) / (CE_zero - CE_clean), where
CE_zero replaces the spliced activations by zeros. Vision models with a class head: top-1 agreement
with the clean prediction and KL(clean || spliced) of the class distributions, with the
zero-ablation baseline and kl_recovered = (KL_zero - KL_sae) / KL_zero; without a head: cosine of
the spliced and clean output embeddings (and the zero-ablation baseline).
Only the token positions the store was captured on (sae.cfg.tokens) are replaced, and never the
massive-activation tokens the store left out (sae.cfg.skip_first_position / massive_norm_ratio, see
saekit.capture.massive): the SAE never saw them, and they stay clean as they were in the store.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from saekit.capture.massive import MassiveTokenRule
from saekit.errors import SaekitError
from saekit.sae import SAE

if TYPE_CHECKING:
    from saekit.data import Dataset
    from saekit.data import Sample
    from saekit.models.base import HookedModel

_EPS = 1e-12


def massive_rule(sae: SAE) -> MassiveTokenRule | None:
    """The massive-token rule the SAE's store applied (None when it kept every token)."""
    c = sae.cfg
    if not c.skip_first_position and c.massive_norm_ratio is None:
        return None
    return MassiveTokenRule(first_position=c.skip_first_position, norm_ratio=c.massive_norm_ratio)


def _splice(sae: SAE, mask_BT: torch.Tensor | None, mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
    rule = massive_rule(sae)

    def fn(act: torch.Tensor) -> torch.Tensor:
        new = torch.zeros_like(act) if mode == "zero" else sae(act.float()).to(act.dtype)
        mask = mask_BT if mask_BT is not None and mask_BT.shape == act.shape[:2] else None
        if mask is None and rule is not None and act.dim() == 3:
            mask = torch.ones(act.shape[:2], dtype=torch.bool, device=act.device)
        if mask is None:
            return new
        if rule is not None:
            mask = rule.keep_mask(act, mask)
        return torch.where(mask[..., None], new, act)

    return fn


def _token_mask(model: HookedModel, inputs: dict, sae: SAE) -> torch.Tensor | None:
    sel = sae.cfg.tokens or "all"
    if sel not in ("all", "cls", "patches", "nonspecial"):
        return None
    try:
        return model.token_mask(inputs, sel, sae.cfg.hook)
    except SaekitError:
        return None


def _has_class_head(model: HookedModel) -> bool:
    mod = getattr(model, "module", None)
    return mod is not None and (hasattr(mod, "classifier") or type(mod).__name__.endswith("ForImageClassification"))


def _next_token_ce(logits: torch.Tensor, inputs: dict) -> tuple[float, int]:
    ids = inputs["input_ids"]
    att = inputs.get("attention_mask", torch.ones_like(ids)).bool()
    valid = att[:, 1:] & att[:, :-1]
    ce = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    ce = ce.view_as(valid)[valid]
    return float(ce.sum()), int(valid.sum())


@torch.no_grad()
def evaluate_downstream(sae: SAE, model: HookedModel, samples: Sequence[Sample], batch_size: int = 8,
                        progress: bool = False) -> dict[str, Any]:
    """Fidelity of `sae` spliced into `model` at sae.cfg.hook over `samples` (saekit.data Samples)."""
    if not samples:
        raise SaekitError("downstream evaluation needs at least one sample")
    model.resolve(sae.cfg.hook)
    sae.eval()
    text = model.modality == "text"
    head = _has_class_head(model)
    acc: dict[str, float] = {}

    def add(key: str, v: float) -> None:
        acc[key] = acc.get(key, 0.0) + v

    for s in tqdm(range(0, len(samples), batch_size), disable=not progress, desc="downstream"):
        inputs = model.prepare(list(samples[s : s + batch_size]))
        mask = _token_mask(model, inputs, sae)
        clean = model.forward(inputs)
        with model.hooks({sae.cfg.hook: _splice(sae, mask, "sae")}):
            spliced = model.forward(inputs)
        with model.hooks({sae.cfg.hook: _splice(sae, mask, "zero")}):
            zeroed = model.forward(inputs)
        if text:
            for name, logits in (("clean", clean), ("sae", spliced), ("zero", zeroed)):
                total, count = _next_token_ce(logits, inputs)
                add(f"ce_{name}_sum", total)
                add(f"n_tokens_{name}", count)
        elif head:
            p_clean = F.log_softmax(clean.float(), -1)
            for name, out in (("sae", spliced), ("zero", zeroed)):
                p = F.log_softmax(out.float(), -1)
                add(f"kl_{name}_sum", float(F.kl_div(p, p_clean, log_target=True, reduction="sum")))
                add(f"agree_{name}_sum", float((out.argmax(-1) == clean.argmax(-1)).sum()))
            add("n", clean.shape[0])
        else:
            for name, out in (("sae", spliced), ("zero", zeroed)):
                add(f"cos_{name}_sum", float(F.cosine_similarity(out.float(), clean.float(), dim=-1).sum()))
            add("n", clean.shape[0])

    res: dict[str, Any] = {"model_id": getattr(model, "model_id", ""), "hook": sae.cfg.hook, "n_samples": len(samples)}
    if text:
        n = max(acc["n_tokens_clean"], 1)
        ce = {k: acc[f"ce_{k}_sum"] / n for k in ("clean", "sae", "zero")}
        gap = ce["zero"] - ce["clean"]
        res.update(kind="lm", ce_clean=ce["clean"], ce_sae=ce["sae"], ce_zero_ablation=ce["zero"], n_tokens=int(n),
                   ce_loss_recovered=(ce["zero"] - ce["sae"]) / gap if abs(gap) > _EPS else float("nan"))
    elif head:
        n = acc["n"]
        kl_sae, kl_zero = acc["kl_sae_sum"] / n, acc["kl_zero_sum"] / n
        res.update(kind="vision-classifier", top1_agreement=acc["agree_sae_sum"] / n,
                   top1_agreement_zero_ablation=acc["agree_zero_sum"] / n, kl=kl_sae, kl_zero_ablation=kl_zero,
                   kl_recovered=(kl_zero - kl_sae) / kl_zero if kl_zero > _EPS else float("nan"))
    else:
        n = acc["n"]
        res.update(kind="vision-embedding", embedding_cosine=acc["cos_sae_sum"] / n,
                   embedding_cosine_zero_ablation=acc["cos_zero_sum"] / n)
    return res


def split_samples(dataset: Dataset | None, split: dict[str, Any], n: int) -> list[Any]:
    """The first n dataset samples on the evaluated side of ``split`` (store sample ids = dataset indices)."""
    import numpy as np

    from stores.split import holdout_mask

    ids = np.arange(len(dataset), dtype=np.int64)
    if split["name"] != "all":
        held = holdout_mask(ids, float(split["fraction"]), str(split["salt"]))
        ids = ids[held if split["name"] == "holdout" else ~held]
    return [dataset[int(i)] for i in ids[:n]]
