"""`saekit name` as a library call: ``name(NameConfig(sae=..., store=..., out=...))``."""
from __future__ import annotations

import dataclasses

from saekit.analysis.naming.options import NamingOptions
from saekit.results import NamesDocument


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


def name(cfg: NameConfig) -> NamesDocument:
    """Name the live latents of the SAE in ``cfg.sae`` over ``cfg.store``; write ``cfg.out``; return names.json."""
    from saekit.analysis.naming.run import run_naming
    from saekit.common.device import resolve_device
    from saekit.sae import load_sae, SAE
    from saekit.sae.formats import work_dir

    device = str(resolve_device(cfg.device))
    sae = load_sae(cfg.sae, device=device)
    dataset = None
    if cfg.data:
        from saekit.data import load_dataset

        dataset = load_dataset(cfg.data)
    return run_naming(sae, cfg.store, cfg.out, hook=cfg.hook, sae_dir=work_dir(cfg.sae), vocab=cfg.vocab,
                      text_space=cfg.text_space, text_encoder=cfg.text_encoder, dataset=dataset, cfg=cfg.options,
                      device=device, progress=cfg.progress)
