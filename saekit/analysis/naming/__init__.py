"""Vocabulary naming of SAE latents, with top examples, heatmaps and the Monosemanticity Score.

For every live latent (it fired at least once in the store):

- its top-activating samples (from the latent summaries) with, for image stores, a PNG per sample:
  the image as the model saw it (resize + centre crop from the store's preprocessing attributes)
  with the patch grid drawn on it and each patch shaded by the latent's activation there; for text
  stores, the sample's tokens with their activations;
- a vocabulary name: the word whose text embedding is closest (cosine) to a query vector in the text
  space. The query is, by ``method``:
    "decoder"     the decoder direction mapped by the text space's linear part (needs a text space
                  fitted on the SAE's own hook, or CLIP with an SAE on image_embeds);
    "top-images"  the mean text-space embedding of the latent's top samples minus the mean over
                  all samples (so what the top samples share *beyond* the dataset average counts);
    "both"        the sum of the two unit-normalised queries;
    "auto"        "top-images" when the samples' text-space embeddings can be had, else "decoder".
  On the bundled clipart with offline:dinov2-small (experiments/naming_quality.py) top-images names
  hit the top images' captions about 4x as often as decoder names, and "both" lies in between.
  Word embeddings are centred on the vocabulary mean before the cosine, for the same reason.
  For text stores the text space is the text encoder itself and the top samples are their texts.
- the Monosemanticity Scores of the latent's per-sample mean activations, against an embedding of
  each sample independent of the SAE's input (chosen by saekit.analysis.monosemanticity.embedding: offline DINOv2
  for CLIP stores, as Pach et al.; another image encoder's final embedding; or the text encoder over
  the sample texts), on up to ``mono_max_samples`` samples: Pach et al.'s score (``mono_score``) and
  saekit's centred variant (``mono_score_centred``), with the samples' mean pair cosine, computed as
  `saekit eval` computes them (saekit.analysis.monosemanticity.monosemanticity_scores).

``name(NameConfig)`` (the `saekit name` command) opens its inputs once (saekit.inputs.Inputs: the SAE,
the store, the dataset behind it and every model a step needs) and runs ``run_naming`` on them, which
writes OUT/names.json (a saekit.results.NamesDocument; fields in docs/formats.md), OUT/heatmaps/*.png and
OUT/index.html, atomically (a temp directory renamed at the end), and returns the document.

One module per step: ``config`` (NameConfig and NamingOptions: what naming can be told), ``text_side``
(text space or text encoder), ``embeddings`` (per-sample embeddings), ``queries`` (method choice and
query vectors), ``scoring`` (vocabulary candidates), ``sources`` (images and token strings of samples),
``entries`` (one names.json entry per latent), ``document`` (names.json from the computed parts),
``report`` (index.html), ``run`` (``name`` and the steps in order) and ``summary`` (what the CLI prints).
"""
from __future__ import annotations

from saekit.common.lazy import lazy_exports

__all__ = ["FORMAT_VERSION", "METHODS", "ImageSource", "NameConfig", "NamingOptions", "TokenSource", "name",
           "run_naming", "score_vocab"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "METHODS": "saekit.analysis.naming.config", "NamingOptions": "saekit.analysis.naming.config",
    "NameConfig": "saekit.analysis.naming.config", "name": "saekit.analysis.naming.run",
    "FORMAT_VERSION": "saekit.analysis.naming.run", "run_naming": "saekit.analysis.naming.run",
    "score_vocab": "saekit.analysis.naming.scoring", "ImageSource": "saekit.analysis.naming.sources",
    "TokenSource": "saekit.analysis.naming.sources"})
