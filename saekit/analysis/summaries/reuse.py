"""Latent summaries cached next to an SAE checkpoint, in SAE_DIR/summaries/<store fingerprint>/,
reused while they match the SAE, the hook and the number of top samples asked for."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from saekit.analysis.summaries.compute import compute_summaries
from saekit.results.summaries import LatentSummaries
from saekit.results.fingerprint import store_fingerprint
from saekit.inputs.checks import open_store, resolve_hook
from saekit.analysis.summaries.streaming import sample_max_batches
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    import torch

    from saekit.sae import SAE
    from stores import ActivationStore

log = logging.getLogger(__name__)


def default_summaries_dir(sae_dir: str | os.PathLike, store: "ActivationStore", hook: str) -> Path:
    """Where summaries of ``store``/``hook`` live next to an SAE checkpoint: SAE_DIR/summaries/<store-fp>/."""
    return Path(sae_dir) / "summaries" / store_fingerprint(store, hook)


def load_cached(target: Path, sae: "SAE", hook: str, min_top_k: int | None) -> LatentSummaries | None:
    """The summaries in ``target`` when they exist, match ``sae`` and ``hook`` and keep at least
    ``min_top_k`` top samples; else None, with the reason logged."""
    if not (target / "summaries.json").is_file():
        return None
    try:
        s = LatentSummaries.load(target)
        s.check_matches(sae=sae, hook=hook)
    except SaekitError as exc:
        log.info("recomputing latent summaries: %s", exc)
        return None
    if min_top_k is not None and s.top_k < min_top_k:
        log.info("recomputing latent summaries: %s keeps %d top samples, %d wanted", target, s.top_k, min_top_k)
        return None
    log.info("reusing latent summaries in %s", target)
    return s


def load_or_compute(sae: "SAE", sae_dir: str | os.PathLike | None, store: "str | os.PathLike | ActivationStore",
                    hook: str | None = None, *, min_top_k: int | None = None,
                    on_samples: Callable[[np.ndarray, "torch.Tensor"], None] | None = None,
                    progress: bool = True, **kwargs: "int | str | torch.device | None") -> LatentSummaries:
    """Fresh summaries from SAE_DIR/summaries/<store-fp>/, or computed (and saved there when
    ``sae_dir`` is given). ``min_top_k`` (default: ``top_k`` in kwargs) is the fewest top samples
    a cached copy may keep. ``on_samples`` sees every batch of per-sample max activations either
    way: riding on the summaries pass, or on an encode-only pass when the summaries are reused.
    Other kwargs go to ``compute_summaries``."""
    store = open_store(store, sae)
    hook = resolve_hook(sae, store, hook)
    target = default_summaries_dir(sae_dir, store, hook) if sae_dir is not None else None
    if min_top_k is None:
        min_top_k = kwargs.get("top_k")
    cached = load_cached(target, sae, hook, min_top_k) if target is not None else None
    if cached is not None:
        if on_samples is not None:
            for ids, smax in sample_max_batches(sae, store, hook, kwargs.get("batch_size"), progress=progress):
                on_samples(ids, smax)
        return cached
    s = compute_summaries(sae, store, hook, on_samples=on_samples, progress=progress, **kwargs)
    if target is not None:
        s.save(target)
    return s
