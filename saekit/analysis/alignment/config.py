"""The configs of `saekit align` (import-light, so the CLI builds its flags without loading torch)."""
from __future__ import annotations

import dataclasses

POOLINGS = ("mean", "first")


@dataclasses.dataclass(frozen=True)
class AlignConfig:
    hook: str = dataclasses.field(metadata={
        "help": "hook whose pooled features are mapped (use the SAE's hook to name by decoder direction; "
                "image_embeds for CLIP)"})
    pooling: str = dataclasses.field(default="mean", metadata={
        "choices": POOLINGS, "help": "how a sample's rows become one feature vector: mean over tokens or its first row (CLS)"})
    text_encoder: str = dataclasses.field(default="offline:minilm", metadata={
        "help": "offline:minilm, st:<sentence-transformers model>, or a CLIP model spec (random:clip, "
                "hf:openai/clip-vit-base-patch32) to use its own text tower instead of a fit"})
    test_frac: float = 0.2  # held-out share of pairs for recall@k
    val_frac: float = 0.2  # share of the training pairs that picks the ridge alpha
    alphas_rel: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)  # ridge alphas, relative to the features' scale
    k: int = 10  # k of recall@k
    seed: int = 0  # seed of the train/test split of the pairs


@dataclasses.dataclass(frozen=True)
class AlignRunConfig:
    """`saekit align`: which store, where to write, and the fit (``fit``: hook, pooling, text encoder, ...)."""

    store: str = dataclasses.field(metadata={"help": "activation store with image-caption samples (/samples text)"})
    out: str = dataclasses.field(metadata={"help": "output directory"})
    fit: AlignConfig
    device: str = "auto"  # auto, cpu, cuda, cuda:N (CLIP models only)
    progress: bool = True  # show progress bars
