"""What `saekit name` can be told: which SAE, store and vocabulary (``NameConfig``), and how latents are
named: the method and how much it keeps and draws (``NamingOptions``). Torch-free."""
from __future__ import annotations

import dataclasses

from saekit.common.errors import SaekitError

METHODS = ("auto", "decoder", "top-images", "both")


@dataclasses.dataclass(frozen=True)
class NamingOptions:
    """How latents are named (the part of `saekit name` that does not say which files)."""

    method: str = dataclasses.field(default="auto", metadata={
        "choices": METHODS,
        "help": "what is compared with the vocabulary (auto: top samples when their embeddings can be had, "
                "else the decoder direction)"})
    top_n: int = dataclasses.field(default=10, metadata={"help": "top samples listed per latent"})
    n_candidates: int = dataclasses.field(default=5, metadata={
        "flag": "--candidates", "help": "vocabulary candidates kept per latent"})
    max_latents: int | None = dataclasses.field(default=None, metadata={
        "help": "name only the N most frequent live latents"})
    heatmap_latents: int = dataclasses.field(default=200, metadata={
        "flag": "--html-latents", "help": "latents (best named first) that get heatmap PNGs and a card in index.html"})
    heatmaps_per_latent: int = dataclasses.field(default=5, metadata={"help": "heatmap PNGs per carded latent"})
    thumb_px: int = dataclasses.field(default=128, metadata={"help": "heatmap PNG side in pixels"})
    mono: bool = dataclasses.field(default=True, metadata={"help": "compute the Monosemanticity Score"})
    mono_hook: str | None = dataclasses.field(default=None, metadata={
        "help": "store hook whose pooled features embed samples for the Monosemanticity Score (never the SAE's "
                "own hook; default: an image encoder's final embedding, or the text encoder on the texts)"})
    mono_encoder: str | None = dataclasses.field(default=None, metadata={
        "help": "image encoder for the Monosemanticity Score (default: offline:dinov2-small for CLIP stores, as in "
                "Pach et al.; else the store's model's final embedding when the SAE sits at another hook, else "
                "offline:dinov2-small)"})
    mono_max_samples: int | None = dataclasses.field(default=1024, metadata={
        "help": "samples (a seeded subset) the Monosemanticity Score is computed on"})
    summaries_top_k: int = dataclasses.field(default=16, metadata={
        "help": "top samples kept per latent in the latent summaries"})
    batch_size: int | None = dataclasses.field(default=None, metadata={
        "help": "store rows per encode batch (default: keeps a [rows, d_sae] block near 16M floats)"})
    seed: int = 0  # seed of the background samples and the Monosemanticity Score's sample subset

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SaekitError(f"--method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.top_n < 1 or self.n_candidates < 1:
            raise SaekitError("--top-n and --candidates must be >= 1")


@dataclasses.dataclass(frozen=True)
class NameConfig:
    """Which SAE, store and vocabulary to name latents with, and how (``options``)."""

    sae: str = dataclasses.field(metadata={"help": "SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, "
                                                   "sparsify:, dictlearn:, saev:, gemmascope:; PATH may be hf:REPO/PATH)"})
    store: str = dataclasses.field(metadata={"help": "activation store (.h5 file or shard directory)"})
    out: str = dataclasses.field(metadata={"help": "output directory"})
    hook: str | None = None  # store hook (default: the SAE's hook)
    vocab: str | None = None  # vocabulary file, one word or phrase a line (default: the shipped one)
    text_space: str | None = dataclasses.field(default=None, metadata={
        "help": "`saekit align` output directory or a CLIP model spec (default: the store's own CLIP model, "
                "or for text stores the text encoder on sample texts)"})
    text_encoder: str = "offline:minilm"  # text encoder for text stores
    data: str | None = None  # dataset spec to reload images from (default: the one recorded in the store)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    progress: bool = True  # show progress bars
    options: NamingOptions = NamingOptions()
