"""A store's image features and captions, one per sample: the pairs `saekit align` fits on.

Image features of a sample are its store rows at one hook pooled over tokens ("mean", or "first"
= the sample's first row, e.g. CLS); its caption is its /samples text.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from saekit.analysis.alignment.config import POOLINGS
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from stores import ActivationStore


def pooled_features(store: ActivationStore, hook: str, pooling: str = "mean", batch_size: int = 8192,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(sample_ids [N] int64, feats [N, d] float32): each sample's rows at ``hook`` pooled over tokens."""
    from saekit.analysis.summaries import iter_whole_samples

    if pooling not in POOLINGS:
        raise SaekitError(f"--pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    if hook not in store.hooks:
        raise SaekitError(f"hook {hook!r} is not in the store (it has {sorted(store.hooks)})")
    ids, feats = [], []
    from tqdm.auto import tqdm

    bar = tqdm(total=int(store.n_rows(hook)), desc=f"features {hook}", unit="row", disable=not progress, leave=False)
    for acts, sid, _ in iter_whole_samples(store, hook, batch_size):
        change = np.ones(len(sid), dtype=bool)
        change[1:] = sid[1:] != sid[:-1]
        starts = np.nonzero(change)[0]
        if pooling == "mean":
            sums = np.add.reduceat(acts.astype(np.float64), starts, axis=0)
            counts = np.diff(np.append(starts, len(sid)))
            feats.append((sums / counts[:, None]).astype(np.float32))
        else:
            feats.append(acts[starts])
        ids.append(sid[starts])
        bar.update(len(sid))
    bar.close()
    if not ids:
        raise SaekitError(f"store hook {hook!r} has no committed rows")
    return np.concatenate(ids), np.concatenate(feats)


def captions_for(store: ActivationStore, sample_ids: np.ndarray) -> list[str]:
    """The /samples text of each sample ('' when missing)."""
    samples = store.samples
    out = []
    for s in sample_ids:
        rec = samples[int(s)] if int(s) in samples else {}
        out.append(str(rec.get("text") or ""))
    return out
