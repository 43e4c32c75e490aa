"""Downstream fidelity: splice the SAE reconstruction into the model at its hook and compare outputs.

Language models, as SAELens' evaluation (sae_lens.evals.get_recons_loss) computes them:
  ce_loss_score  (CE_zero - CE_sae) / (CE_zero - CE_clean): the reconstruction replaces every token
                 that is not special (BOS/EOS/PAD), the zero-ablation every position, and the mean
                 next-token CE runs over positions whose input token is not special;
  kl_div_score   (KL_zero - KL_sae) / KL_zero, KL(clean || spliced) per position, over the
                 non-special positions.
saekit's variant ce_loss_recovered_kept_tokens splices only where the store kept tokens (sae.cfg.tokens,
minus the massive-activation tokens it dropped: sae.cfg.skip_first_position / massive_norm_ratio, see
saekit.capture.massive), for the reconstruction and the zero-ablation alike: the SAE never saw the
dropped tokens, so they stay clean, and the CE runs over every position. Vision models with a
class head: top-1 agreement with the clean prediction and KL(clean || spliced) of the class
distributions, with the zero-ablation baseline and kl_recovered = (KL_zero - KL_sae) / KL_zero; without
a head: cosine of the spliced and clean output embeddings (and the zero-ablation baseline), both
spliced at the kept tokens.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from saekit.capture.massive import MassiveTokenRule
from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.sae import SAE

if TYPE_CHECKING:
    from saekit.data import Dataset
    from saekit.data import Sample
    from saekit.eval.rows import SplitInfo
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


def _next_token_ce(logits: torch.Tensor, ids: torch.Tensor, valid: torch.Tensor) -> tuple[float, int]:
    """(summed CE of predicting token t+1 at position t, count) over positions t where valid [B, T-1]."""
    ce = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    ce = ce.view_as(valid)[valid]
    return float(ce.sum()), int(valid.sum())


def _kl_sum(clean: torch.Tensor, new: torch.Tensor, where: torch.Tensor) -> float:
    """Summed KL(clean || new) of the next-token distributions over the positions in `where` [B, T]."""
    kl = F.kl_div(F.log_softmax(new.float(), -1), F.softmax(clean.float(), -1), reduction="none").sum(-1)
    return float(kl[where].sum())


def _replace_where(sae: SAE | None, where: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The reconstruction at the positions in `where` [B, T] (everywhere when None), zeros when sae is None."""
    def fn(act: torch.Tensor) -> torch.Tensor:
        new = torch.zeros_like(act) if sae is None else sae(act.float()).to(act.dtype)
        return new if where is None else torch.where(where[..., None], new, act)

    return fn


def _lm_batch(sae: SAE, model: HookedModel, inputs: dict, clean: torch.Tensor, add: Callable[[str, float], None]
              ) -> None:
    """SAELens' CE and KL sums for one batch (see the module docstring)."""
    ids = inputs["input_ids"]
    att = inputs.get("attention_mask", torch.ones_like(ids)).bool()
    scored = att & ~torch.isin(ids, torch.tensor(model.special_token_ids, device=ids.device))
    valid = scored[:, :-1] & att[:, 1:]
    for name, fn in (("sae", _replace_where(sae, scored)), ("zero", _replace_where(None, None))):
        with model.hooks({sae.cfg.hook: fn}):
            out = model.forward(inputs)
        add(f"sl_ce_{name}_sum", _next_token_ce(out, ids, valid)[0])
        add(f"sl_kl_{name}_sum", _kl_sum(clean, out, scored))
    total, count = _next_token_ce(clean, ids, valid)
    add("sl_ce_clean_sum", total)
    add("sl_n_ce", count)
    add("sl_n_kl", int(scored.sum()))


def _lm_result(acc: dict[str, float]) -> JSONObject:
    n, n_kl = max(acc["sl_n_ce"], 1), max(acc["sl_n_kl"], 1)
    ce = {k: acc[f"sl_ce_{k}_sum"] / n for k in ("clean", "sae", "zero")}
    kl_sae, kl_zero = acc["sl_kl_sae_sum"] / n_kl, acc["sl_kl_zero_sum"] / n_kl
    gap = ce["zero"] - ce["clean"]
    m = max(acc["n_tokens_clean"], 1)
    kept = {k: acc[f"ce_{k}_sum"] / m for k in ("clean", "sae", "zero")}
    kept_gap = kept["zero"] - kept["clean"]
    return dict(kind="lm", ce_clean=ce["clean"], ce_sae=ce["sae"], ce_zero_ablation=ce["zero"], n_tokens=int(n),
                ce_loss_score=(ce["zero"] - ce["sae"]) / gap if abs(gap) > _EPS else float("nan"),
                kl_div_with_sae=kl_sae, kl_div_with_ablation=kl_zero,
                kl_div_score=(kl_zero - kl_sae) / kl_zero if kl_zero > _EPS else float("nan"),
                ce_sae_kept_tokens=kept["sae"], ce_zero_ablation_kept_tokens=kept["zero"], n_tokens_kept=int(m),
                ce_loss_recovered_kept_tokens=(kept["zero"] - kept["sae"]) / kept_gap if abs(kept_gap) > _EPS
                else float("nan"))


@torch.no_grad()
def evaluate_downstream(sae: SAE, model: HookedModel, samples: Sequence[Sample], batch_size: int = 8,
                        progress: bool = False) -> JSONObject:
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
            ids = inputs["input_ids"]
            att = inputs.get("attention_mask", torch.ones_like(ids)).bool()
            for name, logits in (("clean", clean), ("sae", spliced), ("zero", zeroed)):
                total, count = _next_token_ce(logits, ids, att[:, 1:] & att[:, :-1])
                add(f"ce_{name}_sum", total)
                add(f"n_tokens_{name}", count)
            _lm_batch(sae, model, inputs, clean, add)
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
        res.update(_lm_result(acc))
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


def split_samples(dataset: Dataset, split: SplitInfo, n: int) -> list[Sample]:
    """The first n dataset samples on the evaluated side of ``split`` (store sample ids = dataset indices)."""
    import numpy as np

    from stores.split import holdout_mask

    ids = np.arange(len(dataset), dtype=np.int64)
    if split.name != "all":
        held = holdout_mask(ids, float(split.fraction), str(split.salt))
        ids = ids[held if split.name == "holdout" else ~held]
    return [dataset[int(i)] for i in ids[:n]]
