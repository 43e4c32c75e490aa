"""Per-sample embeddings naming needs: the samples' text-space embeddings (image stores with the
text space's features) and the embedding the Monosemanticity Score compares samples in."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from saekit.analysis.alignment import pooled_features
from saekit.analysis.naming.options import NamingOptions
from saekit.analysis.naming.text_side import TextSide
from saekit.errors import SaekitError
from saekit.models.text_encoder import unit_rows

if TYPE_CHECKING:
    from stores import ActivationStore


@dataclasses.dataclass
class SampleEmbeddings:
    """Rows of ``emb`` [N, D] embed samples ``ids`` [N]; ``described`` says in which space."""

    ids: np.ndarray
    emb: np.ndarray
    described: str

    def of(self, sample_ids: np.ndarray) -> np.ndarray:
        """Rows for ``sample_ids`` (every one must be among ``ids``)."""
        order = np.argsort(self.ids)
        return self.emb[order[np.searchsorted(self.ids, sample_ids, sorter=order)]]


def text_space_embeddings(store: "ActivationStore", side: TextSide, progress: bool) -> SampleEmbeddings | None:
    """Each sample's pooled features at the text space's hook, mapped into the text space; None when
    there is no text space or the store lacks its hook."""
    space = side.space
    if space is None or space.feature_hook not in store.hooks:
        return None
    ids, feats = pooled_features(store, space.feature_hook, space.pooling, progress=progress)
    if getattr(space, "d_feat", feats.shape[1]) != feats.shape[1]:
        raise SaekitError(f"the text space expects {space.d_feat}-d features but store hook "
                          f"{space.feature_hook!r} has {feats.shape[1]}")
    return SampleEmbeddings(ids, space.image_to_text(feats),
                            f"text space ({space.kind}) of {space.pooling}-pooled {space.feature_hook}")


def mono_embeddings(store: "ActivationStore", hook: str, opts: NamingOptions, in_text_space: SampleEmbeddings | None,
                    progress: bool) -> SampleEmbeddings | None:
    """What the Monosemanticity Score compares samples by: the text-space embeddings, or the mean-pooled
    store features at ``opts.mono_hook`` (default the SAE's hook) when asked or when there are none."""
    if not opts.mono:
        return None
    if opts.mono_hook is None and in_text_space is not None:
        return in_text_space
    mh = opts.mono_hook or hook
    if mh not in store.hooks:
        raise SaekitError(f"--mono-hook {mh!r} is not in the store (it has {sorted(store.hooks)})")
    ids, feats = pooled_features(store, mh, "mean", progress=progress)
    return SampleEmbeddings(ids, unit_rows(feats), f"mean-pooled store features at {mh}")
