"""Massive-activation tokens: rows a language model writes with a norm far above every other row.

Causal language models park attention on the first position (an attention sink) and give its
residual stream a norm hundreds of times the median (Sun et al. 2024, "Massive Activations in Large
Language Models"; offline SmolLM2-135M at layer 15: about 24,000 against a median of 168). A few such
rows carry nearly all of a store's squared norm, so the SAE's scale normalisation shrinks every
ordinary token towards zero and pooled metrics measure only the outliers.

The rule (`MassiveTokenRule`) drops, per batch of a capture and per forward in downstream splicing:
  - the first position of every sequence (when ``first_position``), and
  - every row whose L2 norm exceeds ``norm_ratio`` times the median norm of the batch's remaining
    selected rows.
Policies: "auto" applies the rule to language models (modality "text") and keeps every row for
vision models (their high-norm tokens are handled by `saekit artifacts` / --exclude-artifacts);
"drop" applies it to any model; "keep" is the behaviour before the rule existed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from saekit.capture.config import DEFAULT_NORM_RATIO, MASSIVE_POLICIES as POLICIES
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.common.jsontypes import JSONValue



@dataclass(frozen=True)
class MassiveTokenRule:
    first_position: bool = True
    norm_ratio: float | None = DEFAULT_NORM_RATIO

    def __post_init__(self) -> None:
        if self.norm_ratio is not None and not self.norm_ratio > 1:
            raise SaekitError(f"the massive-token norm ratio must be above 1, got {self.norm_ratio}")

    def keep_mask(self, acts_BTD: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
        """mask_BT with the massive-activation tokens of acts_BTD removed (bool [B, T])."""
        keep = mask_BT.clone()
        if self.first_position and keep.shape[1] > 0:
            keep[:, 0] = False
        if self.norm_ratio is not None and bool(keep.any()):
            norms = acts_BTD.float().norm(dim=-1)
            median = norms[keep].median()
            keep &= norms <= self.norm_ratio * median
        return keep

    def to_dict(self) -> dict[str, bool | float | None]:
        return {"first_position": self.first_position, "norm_ratio": self.norm_ratio}


def resolve_rule(policy: str, modality: str, norm_ratio: float = DEFAULT_NORM_RATIO) -> MassiveTokenRule | None:
    """The rule a capture applies under `policy` to a model of `modality` (None: keep every row)."""
    if policy not in POLICIES:
        raise SaekitError(f"--massive-tokens {policy!r} is not one of {', '.join(POLICIES)}")
    if policy == "keep" or (policy == "auto" and modality != "text"):
        return None
    return MassiveTokenRule(first_position=True, norm_ratio=norm_ratio)


def rule_from_record(record: JSONValue) -> MassiveTokenRule | None:

    """The rule recorded in a store's attrs or an SAE config (None / {} / "keep": no rule)."""
    if not record or not isinstance(record, dict) or record.get("policy") == "keep":
        return None
    ratio = record.get("norm_ratio")
    return MassiveTokenRule(first_position=bool(record.get("first_position", False)),
                            norm_ratio=None if ratio is None else float(ratio))


def record_of(policy: str, rule: MassiveTokenRule | None) -> dict[str, str | bool | float | None]:

    """What a store (and the SAEs trained on it) records about the massive-token handling."""
    if rule is None:
        return {"policy": "keep", "requested": policy}
    return {"policy": "drop", "requested": policy, **rule.to_dict()}
