"""Per-sample embeddings naming needs: the samples' text-space embeddings (image stores with the
text space's features) and the embedding the Monosemanticity Score compares samples in."""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np

from saekit.analysis.alignment import pooled_features
from saekit.analysis.naming.config import NamingOptions
from saekit.analysis.naming.sources import ImageSource
from saekit.analysis.naming.text_side import TextSide
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.inputs import Inputs
    from stores import ActivationStore

log = logging.getLogger(__name__)


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


def mono_embeddings(inputs: "Inputs", opts: NamingOptions, modality: str, side: TextSide,
                    images: ImageSource | None) -> tuple[SampleEmbeddings | None, str | None]:
    """What the Monosemanticity Score compares samples by: an embedding independent of the SAE's input
    (saekit.analysis.monosemanticity.embedding; an image encoder through ``inputs.load_model`` on the
    images of ``images``), and a note when none could be had (then the score is skipped; an explicit
    --mono-hook / --mono-encoder that fails is an error instead)."""
    from saekit.analysis.monosemanticity.embedding import choose_mono_embedding

    if not opts.mono:
        return None, None
    try:
        me = choose_mono_embedding(inputs.store, inputs.hook, modality=modality, mono_hook=opts.mono_hook,
                                   encoder=opts.mono_encoder, dataset=images.ds if images is not None else None,
                                   embed_texts=side.embed, max_samples=opts.mono_max_samples,
                                   text_encoder_name=f"text encoder {side.encoder_spec}", seed=opts.seed,
                                   device=inputs.device, load_model=inputs.load_model)
    except SaekitError as exc:
        if opts.mono_hook is not None or opts.mono_encoder is not None:
            raise
        log.warning("Monosemanticity Score skipped: %s", exc)
        return None, f"Monosemanticity Score skipped: {exc}"
    return SampleEmbeddings(me.sample_ids, me.emb, f"{me.source}; {len(me.sample_ids)} samples; "
                                                    "per-sample activation = mean over its tokens"), None
