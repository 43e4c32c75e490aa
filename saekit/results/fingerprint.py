"""The SAE / store / dataset fingerprints that result documents carry, built on the one
fingerprint function (``stores.fingerprint``: sha256 over a sequence of parts, 16 hex characters),
re-exported here.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Iterable

import numpy as np

from stores.fingerprint import LENGTH, fingerprint  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import torch

    from saekit.sae import SAE
    from stores import ActivationStore

_SAE_TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec")


def _cpu(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu").float().contiguous().numpy()


def sae_fingerprint(sae: SAE) -> str:
    """The SAE's config and weights (and any other state that changes encode(), e.g. thresholds)."""
    parts: list[object] = []
    cfg = getattr(sae, "cfg", None)
    if cfg is not None:
        parts.append(dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(vars(cfg)))
    for name in _SAE_TENSORS:
        t = getattr(sae, name, None)
        if t is not None:
            parts += [name, _cpu(t)]
    if hasattr(sae, "state_dict"):
        for k, v in sorted(sae.state_dict().items()):
            if k not in _SAE_TENSORS:
                parts += [k, _cpu(v)]
    return fingerprint(*parts)


_VOLATILE_ATTRS = ("n_committed", "stats", "complete")


def store_fingerprint(store: ActivationStore, hook: str) -> str:
    """The store's identity for one hook: attributes (less the volatile ones), sizes, first/last 64 rows."""
    attrs = {k: v for k, v in dict(getattr(store, "attrs", {}) or {}).items() if k not in _VOLATILE_ATTRS}
    n = int(store.n_rows(hook))
    parts: list[object] = [attrs, f"{hook}|{n}|{store.d(hook)}|{getattr(store, 'n_samples', -1)}"]
    if n:
        parts.append(np.asarray(store.read_rows(hook, 0, min(n, 64)), dtype=np.float32))
        parts.append(np.asarray(store.read_rows(hook, max(0, n - 64), n), dtype=np.float32))
    return fingerprint(*parts)


def dataset_fingerprint(ids: Iterable[object], labels: Iterable[object]) -> str:

    """The (sample id, label) list of a dataset, in order."""
    return fingerprint("".join(f"{i}\t{lab}\n" for i, lab in zip(ids, labels)))
