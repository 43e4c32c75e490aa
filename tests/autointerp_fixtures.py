"""Shared fixtures for the autointerp tests (no tests here): a planted text store read with the byte
tokenizer of random:gpt2, a saekit SAE checkpoint whose latents 0..2 fire exactly on the bytes of
'cat', 'dog' and 'owl' (latent 3 never fires), and scripted chat clients with known answers.

Every word has three letters, so with the BOS token and the spaces, word k of a document sits at
positions 4k+1..4k+3: 32-token windows hold words 0-7 and 8-15 whole and no word is ever cut."""
from __future__ import annotations

import math
import re

import numpy as np
import torch

from saekit.autointerp.chat import ChatReply, ChatRequest, TokenLogprob, text_of
from saekit.sae import SAE, SAEConfig
from stores import ActivationStore

HOOK = "blocks.1.hook_resid_post"
D = 8
PLANTED = ["cat", "dog", "owl"]
FILLERS = ["sun", "car", "hat", "pen", "cup", "box", "map", "bus", "fog", "jam", "kit", "log", "mud"]
WORDS = PLANTED + FILLERS
WORDS_PER_DOC = 10


def text_store(tmp_path, n: int = 60, seed: int = 0, graded: bool = False):
    """The planted store; `graded` makes a word's three bytes fire at about 1, 0.4 and 0.2 of its
    peak instead of evenly (so which tokens pass a relative marking threshold depends on it)."""
    rng = np.random.default_rng(seed)
    shape = np.array([2.0, 1.4, 1.2]) if graded else np.full(3, 2.0)
    texts = [" ".join(rng.choice(WORDS, size=WORDS_PER_DOC)) for _ in range(n)]
    path = tmp_path / "text.h5"
    w = ActivationStore.create(path, hooks={HOOK: D}, dtype="float32",
                               attrs={"model_id": "random:gpt2", "modality": "text", "dataset_modality": "text"})
    for i, t in enumerate(texts):
        T = 1 + len(t.encode())  # BOS + one token per byte
        acts = rng.normal(size=(T, D)).astype(np.float32) * 0.05
        for j, word in enumerate(PLANTED):
            for m in re.finditer(rf"\b{word}\b", t):
                acts[1 + m.start():1 + m.end(), j] += shape + 0.01 * i
        w.append(HOOK, acts, np.full(T, i), np.arange(T))
    w.add_samples(np.arange(n), [{"source": f"t{i}", "label": "", "text": t} for i, t in enumerate(texts)])
    w.close()
    return path, texts


def windows_of(texts: list[str], ctx: int = 32) -> list[tuple[int, str]]:
    """(sample id, window text) of every window, cut independently of saekit: BOS + bytes, ctx a window."""
    out = []
    for i, t in enumerate(texts):
        toks = ["<|bos|>"] + list(t)
        for start in range(0, len(toks), ctx):
            out.append((i, "".join(x for x in toks[start:start + ctx] if x != "<|bos|>")))
    return out


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


def verdict_list(verdicts: list[bool], probs: list[float] | None) -> tuple[str, tuple[TokenLogprob, ...] | None]:
    """A delphi-style answer '[1, 0, ...]' and, with probabilities, its token log-probabilities."""
    text = "[" + ", ".join("1" if v else "0" for v in verdicts) + "]"
    if probs is None:
        return text, None
    toks: list[TokenLogprob] = [TokenLogprob("[", 0.0, (("[", 0.0),))]
    for k, (v, p) in enumerate(zip(verdicts, probs)):
        p = min(max(p, 1e-6), 1 - 1e-6)
        alts = (("1", math.log(p)), ("0", math.log(1 - p))) if v else (("0", math.log(1 - p)), ("1", math.log(p)))
        toks.append(TokenLogprob("1" if v else "0", alts[0][1], alts + ((" the", -9.0),)))
        toks.append(TokenLogprob("," if k < len(verdicts) - 1 else "]", 0.0, ()))
    return text, tuple(toks)


class ScriptedClient:
    """A chat client answering by rule: explain(marked spans), judge(kind, explanation, example) and,
    optionally, confidence(kind, explanation, example) -> P(yes), sent as token log-probabilities."""

    accepts_images = False
    max_concurrency = 4

    def __init__(self, name: str, judge, explain=None, confidence=None):
        self.name = name
        self._judge = judge
        self._explain = explain or (lambda spans: "something")
        self._confidence = confidence
        self.requests: list[ChatRequest] = []

    def complete(self, request: ChatRequest) -> ChatReply:
        self.requests.append(request)
        text = text_of(request.messages)
        logprobs = None
        if "Activating examples:" in text:
            spans = re.findall(r"<<(.*?)>>", text)
            answer = f"Explanation: {self._explain(spans)}"
        else:
            kind = "fuzzing" if "tokens marked" in text else "detection"
            expl = explanation_of(request)
            exs = examples(request)
            verdicts = [bool(self._judge(kind, expl, ex)) for ex in exs]
            probs = [float(self._confidence(kind, expl, ex)) for ex in exs] \
                if self._confidence is not None and request.logprobs else None
            answer, logprobs = verdict_list(verdicts, probs)
        return ChatReply(answer, len(text) // 4, len(answer) // 4, logprobs=logprobs)


def planted_truth(kind: str, expl: str, ex: str) -> bool:
    """The right verdict on the planted store for an explanation "the word X"."""
    word = expl.split()[-1]
    if kind == "detection":
        return re.search(rf"\b{word}\b", ex) is not None
    marked = re.findall(r"<<(.*?)>>", ex)
    return bool(marked) and all(m.strip() == word for m in marked)


def oracle_client() -> ScriptedClient:
    """Explains by the most often marked span and judges exactly right for the planted store."""
    return ScriptedClient("oracle", planted_truth, lambda spans: "the word " + max(set(spans), key=spans.count))


def always_yes_client() -> ScriptedClient:
    return ScriptedClient("yes", lambda kind, expl, ex: True)


def random_client(seed: int = 0) -> ScriptedClient:
    rng = np.random.default_rng(seed)
    return ScriptedClient(f"random{seed}", lambda kind, expl, ex: bool(rng.random() < 0.5))
