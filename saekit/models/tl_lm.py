"""Causal language models through transformer_lens' TransformerBridge.

The bridge (TL 4.x) already names its HookPoints the TransformerLens way without compatibility
mode (which would fold LayerNorms into the weights and change what the activations mean), so
every hook is the bridge's own HookPoint, and a torch forward hook returning a tensor replaces what
the HookPoint passes on. All are writable (attention patterns too) except hook_resid_mid, which the
bridge aliases to the second LayerNorm's input.
"""
from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Mapping, Sequence

import torch
from torch import nn

from saekit.common.errors import SaekitError
from saekit.models.base import HookSite, HookedModel, ModuleOutput, check_selection, first_tensor, post_site
from saekit.models.hf_layers import RESID, capture_resid, decoder_layers, no_hooks_installed

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from saekit.data import Sample


log = logging.getLogger(__name__)

_READ_ONLY_MID = ("in the TransformerBridge hook_resid_mid is the second LayerNorm's input (ln2.hook_in), so "
                  "writing it would change what the MLP sees but not the residual stream")
_PER_LAYER = ("hook_resid_pre", "hook_resid_mid", "hook_attn_out", "hook_mlp_in", "ln2.hook_normalized", "mlp.hook_post",
              "hook_mlp_out", "attn.hook_pattern", "hook_resid_post")
# names read at another bridge HookPoint. hook_mlp_in's own HookPoint never fires: the MLP block's input,
# before its norm, is what the second norm receives. ln2.hook_normalized is what the MLP reads, the norm's
# output with its weight applied (as the transformers layers give it, and as TransformerLens' LayerNorm and
# its folded norms give it); the bridge's own hook_normalized of an RMSNorm is x / rms before the weight
# (TransformerLens' RMSNorm convention), which is not the MLP's input.
_ALIASES = {"hook_mlp_in": "ln2.hook_in", "ln2.hook_normalized": "ln2.hook_out"}
_BLOCK_HOOK = re.compile(r"^(blocks\.\d+)\.(.+)$")


class TLModel(HookedModel):
    """Adapter for a TransformerBridge.

    TLModel(bridge, model_id, revision="", max_length=None)
    TLModel.from_hf(hf_model, tokenizer, model_id, revision="", max_length=None)   # boots the bridge
    """

    modality = "text"

    def __init__(self, bridge: nn.Module, model_id: str, revision: str = "", max_length: int | None = None):
        self.bridge = bridge.eval()
        self.module = bridge
        self.model_id = model_id
        self.revision = revision or ""
        cfg = bridge.cfg
        self.n_layers = int(cfg.n_layers)
        self.d_model = int(cfg.d_model)
        tok = bridge.tokenizer
        if tok is None:
            raise SaekitError(f"{model_id}: the TransformerBridge has no tokenizer")
        tok.padding_side = "right"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        self.tokenizer = tok
        n_ctx = int(getattr(cfg, "n_ctx", 0) or 0) or 1024
        self.max_length = int(max_length or min(n_ctx, 1024))
        hook_dict = bridge.hook_dict
        self._hook_dict = hook_dict
        names = [f"blocks.{i}.{n}" for i in range(self.n_layers) for n in _PER_LAYER]
        names.append("ln_final.hook_normalized")
        self._names = [n for n in names if self._hook_point(n) is not None]
        self._hf = getattr(bridge, "original_model", None)
        self._hf_layers = decoder_layers(self._hf, self.n_layers) if isinstance(self._hf, nn.Module) else None

    @classmethod
    def from_hf(cls, hf_model: nn.Module, tokenizer: PreTrainedTokenizerBase, model_id: str, revision: str = "",
                max_length: int | None = None) -> "TLModel":
        from transformer_lens import TransformerBridge

        if not getattr(hf_model.config, "architectures", None):
            hf_model.config.architectures = [type(hf_model).__name__]
        try:
            bridge = TransformerBridge.boot_transformers(model_id, hf_model=hf_model.eval(), tokenizer=tokenizer)
        except ValueError as exc:
            raise SaekitError(f"{model_id}: TransformerBridge cannot wrap {type(hf_model).__name__}: "
                              f"{str(exc).splitlines()[0][:200]}") from None
        return cls(bridge, model_id=model_id, revision=revision, max_length=max_length)

    def hook_names(self) -> list[str]:
        return list(self._names)

    def _hook_point(self, hook: str) -> nn.Module | None:
        m = _BLOCK_HOOK.match(hook)
        alias = _ALIASES.get(m.group(2)) if m else None
        return self._hook_dict.get(f"{m.group(1)}.{alias}" if m and alias else hook)

    def _canonical_site(self, hook: str) -> HookSite | None:
        hp = self._hook_point(hook)
        if hp is None:
            return None
        if hook.endswith("hook_resid_mid"):
            return HookSite(hp, "post", "lm", first_tensor, None, read_only_reason=_READ_ONLY_MID)
        return post_site(hp, "lm")

    def default_tower(self, inputs: Mapping[str, torch.Tensor] | None = None) -> str:
        return "lm"

    def _run(self, inputs: Mapping[str, torch.Tensor], tower: str) -> ModuleOutput:
        return self.bridge(inputs["input_ids"], attention_mask=inputs.get("attention_mask"))

    def capture(self, inputs: Mapping[str, torch.Tensor], hooks: Sequence[str]) -> dict[str, torch.Tensor]:
        """Residual-stream, MLP-input / output and attention-output hooks are read from the transformers layers directly (the same values, the
        cost of a plain forward stopped there) unless a replacement is installed on the bridge; any
        other hook goes through the bridge's HookPoints."""
        hooks = list(dict.fromkeys(hooks))
        if (hooks and self._hf_layers is not None and all(RESID.match(h) and self._hook_point(h) is not None for h in hooks)
                and no_hooks_installed(self._hook_dict)):
            got = capture_resid(self._hf_layers, lambda: self._hf(
                input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")), hooks)
            if len(got) == len(hooks):
                return got
        return super().capture(inputs, hooks)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Next-token logits [B, T, vocab]."""
        with torch.no_grad():
            return self._run(inputs, "lm")

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": enc["input_ids"].to(self.device), "attention_mask": enc["attention_mask"].to(self.device)}

    def prepare(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:

        texts = [s.text for s in samples]
        if not texts or any(t is None for t in texts):
            src = next((s.source for s in samples if s.text is None), "?")
            raise SaekitError(f"{self.model_id} is a language model and needs text samples; {src!r} has no text")
        return self.tokenize(texts)

    @property
    def special_token_ids(self) -> list[int]:
        tok = self.tokenizer
        return sorted({i for i in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) if i is not None})

    def token_mask(self, inputs: Mapping[str, torch.Tensor], select: str, hook: str | None = None) -> torch.Tensor:
        """bool [B, T]: all = non-padding tokens, nonspecial = also not BOS/EOS/PAD."""
        check_selection(select)
        if hook is not None:
            self.resolve(hook)
        att = inputs["attention_mask"].bool()
        if select == "all":
            return att
        if select in ("cls", "patches"):
            raise SaekitError(f"--tokens {select} needs a vision model; language models take all or nonspecial")
        ids = inputs["input_ids"]
        special = torch.tensor(self.special_token_ids, device=ids.device)
        return att & ~torch.isin(ids, special)
