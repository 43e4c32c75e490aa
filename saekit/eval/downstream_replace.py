"""Downstream fidelity of a transcoder: the model runs with its target hook (an MLP's output) replaced
by the transcoder's prediction from the input hook of the same forward pass.

The replacement reuses the SAE splice of `saekit.eval.downstream` at the target hook: what it writes
there is the transcoder applied to the activation its input hook recorded moments before, in the same
forward. Its baseline, the splice's zero mode, zero-ablates the target, i.e. that MLP:

  language models  CE loss recovered = (CE_zero - CE_replaced) / (CE_zero - CE_clean)
  vision + head    top-1 agreement and KL recovered against zero-ablating the MLP
  vision, no head  cosine of the output embedding, replaced and zero-ablated

The same tokens as an SAE splice are replaced: those the store was captured on, never the massive-
activation tokens it left out. An acausal crosscoder reads layers after those it writes, so one forward
pass cannot run with its output: it gets no downstream number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.downstream import evaluate_downstream
from saekit.sae import SAE, SAEConfig

if TYPE_CHECKING:
    from saekit.data import Sample
    from saekit.models.base import HookedModel


@dataclass
class _Replacement:
    """What `evaluate_downstream` splices at the target hook: the transcoder of the recorded input."""

    transcoder: SAE
    cfg: SAEConfig
    recorded: dict[str, torch.Tensor] = field(default_factory=dict)

    def eval(self) -> "_Replacement":
        self.transcoder.eval()
        return self

    def record(self, act: torch.Tensor) -> torch.Tensor:
        self.recorded["x"] = act
        return act

    def __call__(self, target_act: torch.Tensor) -> torch.Tensor:
        x = self.recorded.pop("x", None)
        if x is None or x.shape[:-1] != target_act.shape[:-1]:
            raise SaekitError(f"the input hook {self.transcoder.cfg.hook!r} did not run before the target hook "
                              f"{self.cfg.hook!r} in this forward pass")
        return self.transcoder(x.float())


@torch.no_grad()
def evaluate_replacement(sae: SAE, model: HookedModel, samples: Sequence[Sample], batch_size: int = 8,
                         progress: bool = False) -> JSONObject:
    """Fidelity of ``model`` with the transcoder's target hook replaced (see the module docstring)."""
    c = sae.cfg
    if not c.target_hooks:
        raise SaekitError("an acausal crosscoder reads layers after those it writes: one forward pass cannot run "
                          "on its output, so it has no downstream replacement number")
    if len(c.target_hooks) != 1:
        raise SaekitError(f"downstream replacement writes one target hook; this transcoder has {list(c.target_hooks)}")
    target = c.target_hooks[0]
    for hook in (c.hook, target):
        if not model.is_writable(hook):
            raise SaekitError(f"hook {hook!r} of {model.model_id} cannot be hooked for a replacement")
    splice = _Replacement(sae, c.replace(hook=target, d_in=c.d_out, target_hooks=(), skip=False, d_out=None))
    with model.hooks({c.hook: splice.record}):
        res = evaluate_downstream(splice, model, samples, batch_size=batch_size, progress=progress)  # type: ignore[arg-type]
    return {**res, "input_hook": c.hook, "target_hook": target, "baseline": "target zero-ablated"}
