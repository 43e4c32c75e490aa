"""The `align` command: ``align(AlignRunConfig(...)) -> AlignDocument``; and ``fit_text_space``, the
same step on a store object in code (quickstart, experiments).

Writes OUT/align.json (the AlignDocument), a ridge map's map.npz and index.html into a temp
directory renamed at the end, so a half-written result never looks whole.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from saekit.analysis.alignment.config import AlignConfig, AlignRunConfig
from saekit.common.errors import SaekitError
from saekit.results.alignment import AlignDocument, AlignedStore, AlignParams, TextSpaceInfo

if TYPE_CHECKING:
    from saekit.analysis.alignment.text_space import TextSpace
    from saekit.models.text_encoder import TextEncoder
    from stores import ActivationStore

log = logging.getLogger(__name__)


def align(cfg: AlignRunConfig) -> AlignDocument:
    """Fit (or, for CLIP, evaluate) the text space of ``cfg.store``; write ``cfg.out``; return align.json's document."""
    from saekit.common.device import resolve_device

    if not 0.0 < cfg.fit.test_frac < 0.9:
        raise SaekitError(f"--test-frac must be in (0, 0.9), got {cfg.fit.test_frac}")
    if cfg.fit.k < 1:
        raise SaekitError(f"--k must be >= 1, got {cfg.fit.k}")
    _, doc = fit_text_space(cfg.store, cfg.fit, out=cfg.out, device=str(resolve_device(cfg.device)),
                            progress=cfg.progress)
    return doc


def fit_text_space(store: ActivationStore | str | os.PathLike, cfg: AlignConfig, out: str | os.PathLike | None = None,
                   text_encoder: TextEncoder | None = None, device: str = "cpu", progress: bool = False
                   ) -> tuple[TextSpace, AlignDocument]:
    """Fit (or, for a CLIP model, evaluate) the text space for ``store``/``cfg.hook``; write ``out``.

    ``cfg.text_encoder``: a text-encoder spec (``offline:minilm``) -> a fitted ridge map; a CLIP
    model spec (``random:clip``, ``hf:...clip...``) -> the model's own towers (hook should be
    ``image_embeds``)."""
    from saekit.inputs import Inputs

    with Inputs(store=store) as inputs:
        opened = inputs.store
        store_path = inputs.store_path or str(getattr(opened, "path", ""))
        space, doc = _fit(opened, store_path, cfg, text_encoder, device, progress)
    if out is not None:
        _write_output(Path(out), space, doc)
    return space, doc


def _fit(store: ActivationStore, store_path: str, cfg: AlignConfig, text_encoder: TextEncoder | None, device: str,
         progress: bool) -> tuple[TextSpace, AlignDocument]:
    from saekit.analysis.alignment.features import captions_for, pooled_features
    from saekit.analysis.alignment.fit import evaluate_clip_space, fit_text_map
    from saekit.analysis.alignment.text_space import ClipTextSpace, load_text_space
    from saekit.models.text_encoder import embed_texts, resolve_text_encoder
    from saekit.results import store_fingerprint

    ids, feats = pooled_features(store, cfg.hook, cfg.pooling, progress=progress)
    captions = captions_for(store, ids)
    have = np.array([bool(c.strip()) for c in captions])
    if have.sum() < len(captions):
        log.info("%d of %d samples have no caption; they are left out", int((~have).sum()), len(captions))
    feats = feats[have]
    captions = [c for c, h in zip(captions, have) if h]
    if not captions:
        raise SaekitError("the store's /samples have no captions (text); `saekit align` needs image-caption pairs")
    spec = cfg.text_encoder
    if text_encoder is None and _is_clip_spec(spec):
        space: TextSpace = load_text_space(spec, device=device)
        if not isinstance(space, ClipTextSpace):
            raise SaekitError(f"--text-encoder {spec!r} is no CLIP model")
        metrics = evaluate_clip_space(space, feats, captions, cfg)
        method, info = "clip", TextSpaceInfo(**space.describe())
    else:
        enc = resolve_text_encoder(text_encoder if text_encoder is not None else spec)
        space, metrics = fit_text_map(feats, embed_texts(captions, enc), captions, cfg,
                                      text_encoder=enc if text_encoder is not None else spec)
        method, info = "ridge", TextSpaceInfo(**{**space.describe(), "text_encoder": spec})
    doc = AlignDocument(method=method, text_space=info,
                        store=AlignedStore(path=store_path, fingerprint=store_fingerprint(store, cfg.hook), hook=cfg.hook),
                        params=AlignParams(**dataclasses.asdict(cfg)), metrics=metrics,
                        created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    return space, doc


def _is_clip_spec(spec: str) -> bool:
    if not isinstance(spec, str) or ":" not in spec:
        return False
    prefix, _, name = spec.partition(":")
    return prefix in ("random", "hf") and "clip" in name.lower()


def _write_output(out: Path, space: TextSpace, doc: AlignDocument) -> None:
    from saekit.analysis.alignment.report import write_html
    from saekit.analysis.alignment.text_space import LinearTextSpace
    from saekit.common.atomic import atomic_directory

    with atomic_directory(out) as tmp:
        if isinstance(space, LinearTextSpace):
            space.save(tmp)
        doc.save(tmp)
        write_html(tmp / "index.html", doc)
