"""`saekit align`: give image features a text space: a fitted linear (ridge) map into a text encoder's
space for encoders without a text tower, or, for CLIP models, an evaluation of their own towers.

One module per step: ``config`` (AlignConfig: the fit; AlignRunConfig: the command), ``features``
(a store's pooled image features and captions), ``fit`` (the ridge fit and recall@k), ``text_space``
(the TextSpace interface, LinearTextSpace, ClipTextSpace, load_text_space), ``run``
(``align(AlignRunConfig) -> AlignDocument`` and ``fit_text_space`` on a store in code), ``report``
(index.html) and ``summary`` (what the CLI prints). The names below are imported lazily.
"""
from __future__ import annotations

from saekit.common.lazy import lazy_exports

_SPACE = "saekit.analysis.alignment.text_space"
_CONFIG = "saekit.analysis.alignment.config"
__getattr__, __dir__ = lazy_exports(__name__, {
    "POOLINGS": _CONFIG, "AlignConfig": _CONFIG, "AlignRunConfig": _CONFIG,
    "TextSpace": _SPACE, "LinearTextSpace": _SPACE, "ClipTextSpace": _SPACE, "load_text_space": _SPACE,
    "captions_for": "saekit.analysis.alignment.features", "pooled_features": "saekit.analysis.alignment.features",
    "recall_at_k": "saekit.analysis.alignment.fit", "fit_text_map": "saekit.analysis.alignment.fit",
    "align": "saekit.analysis.alignment.run", "fit_text_space": "saekit.analysis.alignment.run"})
__all__ = ["AlignConfig", "AlignRunConfig", "ClipTextSpace", "LinearTextSpace", "POOLINGS", "TextSpace", "align",
           "captions_for", "fit_text_map", "fit_text_space", "load_text_space", "pooled_features", "recall_at_k"]
