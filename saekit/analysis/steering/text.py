"""Steering effects on language models: greedy generations and the log-probability of a concept."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from saekit.models.tl_lm import TLModel


def _tokenizer(model: TLModel) -> PreTrainedTokenizerBase:
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        raise SaekitError(f"model {getattr(model, 'model_id', '?')} has no tokenizer: generation needs a text model")
    return tok


def _text_inputs(model: TLModel, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
    from saekit.data import Sample

    samples = [Sample(id=i, source="prompt", label=None, text=p, image=None) for i, p in enumerate(prompts)]
    return model.prepare(samples)


def greedy_generate(model: TLModel, prompt: str, max_new_tokens: int = 20) -> str:
    """Greedy continuation of one prompt through `model.forward` (no KV cache: every step re-runs the
    whole sequence, so steering hooks see every position every step)."""
    tok = _tokenizer(model)
    inputs = _text_inputs(model, [prompt])
    ids = inputs["input_ids"]
    n_prompt = ids.shape[1]
    eos = getattr(tok, "eos_token_id", None)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            step = dict(inputs)
            step["input_ids"] = ids
            if "attention_mask" in inputs:
                step["attention_mask"] = torch.ones_like(ids)
            logits = model.forward(step)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt.to(ids.device)], dim=1)
            if eos is not None and int(nxt) == int(eos):
                break
    return tok.decode(ids[0, n_prompt:].tolist(), skip_special_tokens=True)


def concept_logprob(model: TLModel, prompts: Sequence[str], concept: str, leading_space: bool = True) -> torch.Tensor:
    """log p(concept | prompt) per prompt, teacher-forced: the sum of the log-probabilities of the
    concept's tokens (with a leading space unless told otherwise) appended after the prompt."""
    tok = _tokenizer(model)
    text = (" " + concept.strip()) if leading_space else concept
    concept_ids = tok(text, add_special_tokens=False)["input_ids"]
    if not concept_ids:
        raise SaekitError(f"concept {concept!r} tokenizes to nothing")
    out = []
    with torch.no_grad():
        for p in prompts:
            inputs = _text_inputs(model, [p])
            ids = inputs["input_ids"]
            cid = torch.tensor([concept_ids], dtype=ids.dtype, device=ids.device)
            full = torch.cat([ids, cid], dim=1)
            step = dict(inputs)
            step["input_ids"] = full
            if "attention_mask" in inputs:
                step["attention_mask"] = torch.ones_like(full)
            logp = model.forward(step).float().log_softmax(-1)
            n = ids.shape[1]
            targets = full[0, n:]
            preds = logp[0, n - 1:-1]
            out.append(preds.gather(-1, targets[:, None]).sum())
    return torch.stack(out).cpu()
