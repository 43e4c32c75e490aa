"""Shared fixtures for the autointerp tests (no tests here): a planted text store read with the byte
tokenizer of random:gpt2, a saekit SAE checkpoint whose latents 0..2 fire exactly on the bytes of
'cat', 'dog' and 'tree' (latent 3 never fires), and scripted chat clients with known answers."""
from __future__ import annotations

import re

import numpy as np
import torch

from saekit.autointerp.chat import ChatReply, ChatRequest, text_of
from saekit.sae import SAE, SAEConfig
from stores import ActivationStore

HOOK = "blocks.1.hook_resid_post"
D = 8
WORDS = ["cat", "dog", "tree", "boat", "house", "car"]
PLANTED = ["cat", "dog", "tree"]


def text_store(tmp_path, n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=3, replace=False)) for _ in range(n)]
    path = tmp_path / "text.h5"
    w = ActivationStore.create(path, hooks={HOOK: D}, dtype="float32",
                               attrs={"model_id": "random:gpt2", "modality": "text", "dataset_modality": "text"})
    for i, t in enumerate(texts):
        T = 1 + len(t.encode())  # BOS + one token per byte
        acts = rng.normal(size=(T, D)).astype(np.float32) * 0.05
        for j, word in enumerate(PLANTED):
            for m in re.finditer(rf"\b{word}\b", t):
                acts[1 + m.start():1 + m.end(), j] += 2.0 + 0.01 * i
        w.append(HOOK, acts, np.full(T, i), np.arange(T))
    w.add_samples(np.arange(n), [{"source": f"t{i}", "label": "", "text": t} for i, t in enumerate(texts)])
    w.close()
    return path, texts


def planted_sae(tmp_path, d_sae: int = 4):
    sae = SAE.create(SAEConfig(arch="relu", d_in=D, d_sae=d_sae, hook=HOOK, normalization="none"))
    W_enc = torch.zeros(D, d_sae)
    W_dec = torch.zeros(d_sae, D)
    for j in range(min(3, d_sae)):
        W_enc[j, j] = 1.0
        W_dec[j, j] = 1.0
    for j in range(3, d_sae):
        W_dec[j, 5] = 1.0
    b_enc = torch.full((d_sae,), -100.0)
    b_enc[:3] = -1.0
    sae.load_tensors({"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": torch.zeros(D)})
    out = tmp_path / "sae"
    sae.save(out)
    return out


_EXAMPLE = re.compile(r"^Example (\d+)(?: \(caption: [^)]*\))?: ?(.*)$", re.MULTILINE)


def examples(request: ChatRequest) -> list[str]:
    return [m.group(2) for m in _EXAMPLE.finditer(text_of(request.messages))]


def explanation_of(request: ChatRequest) -> str:
    m = re.search(r"^Explanation: (.*)$", text_of(request.messages), re.MULTILINE)
    return m.group(1) if m else ""


class ScriptedClient:
    """A chat client answering by rule: explain(marked spans) and judge(kind, explanation, example)."""

    accepts_images = False
    max_concurrency = 4

    def __init__(self, name: str, judge, explain=None):
        self.name = name
        self._judge = judge
        self._explain = explain or (lambda spans: "something")
        self.requests: list[ChatRequest] = []

    def complete(self, request: ChatRequest) -> ChatReply:
        self.requests.append(request)
        text = text_of(request.messages)
        if "Top activating examples" in text:
            spans = re.findall(r"<<(.*?)>>", text)
            answer = f"Explanation: {self._explain(spans)}"
        else:
            kind = "fuzzing" if "tokens marked" in text else "detection"
            expl = explanation_of(request)
            answer = "\n".join(f"{i}: {'yes' if self._judge(kind, expl, ex) else 'no'}"
                               for i, ex in enumerate(examples(request), 1))
        return ChatReply(answer, len(text) // 4, len(answer) // 4)


def oracle_client() -> ScriptedClient:
    """Explains by the most often marked span and judges exactly right for the planted store."""

    def explain(spans):
        return "the word " + max(set(spans), key=spans.count)

    def judge(kind, expl, ex):
        word = expl.split()[-1]
        if kind == "detection":
            return re.search(rf"\b{word}\b", ex) is not None
        marked = re.findall(r"<<(.*?)>>", ex)
        return bool(marked) and all(m.strip() == word for m in marked)

    return ScriptedClient("oracle", judge, explain)


def always_yes_client() -> ScriptedClient:
    return ScriptedClient("yes", lambda kind, expl, ex: True)


def random_client(seed: int = 0) -> ScriptedClient:
    rng = np.random.default_rng(seed)
    return ScriptedClient(f"random{seed}", lambda kind, expl, ex: bool(rng.random() < 0.5))
