"""SteeringDocument: steer.json, written by `saekit steer` (saekit.analysis.steering.run).

A dose-response sweep: the model's effect readout at each steering strength of one latent.
"""
from __future__ import annotations

from dataclasses import dataclass

from saekit.results.document import Document
from saekit.results.refs import SaeRef


@dataclass(frozen=True)
class DoseRow:
    strength: float                   # multiplier of the steering value
    effect: float                     # mean effect readout at this strength
    delta: float                      # mean of (effect - baseline) per sample
    delta_std: float                  # standard deviation of (effect - baseline) over samples
    generation: str | None = None     # language models: greedy continuation at this strength


@dataclass(frozen=True)
class SteeringPlots:
    html: str                         # interactive plot, relative to the output directory
    png: str                          # static plot (PNG), relative to the output directory


@dataclass(frozen=True)
class SteeringDocument(Document, kind="steer", filename="steer.json", version=1,
                       command="steer", what="steering report"):

    model: str                        # model id
    sae: SaeRef                       # the SAE steered with
    positions: str                    # the --positions given: all, indices or a slice
    plots: SteeringPlots              # the dose-response plot
    latent: int                       # the latent steered
    mode: str                         # clamp, add or ablate
    effect: str                       # what the effect readout measures
    rows: tuple[DoseRow, ...]         # one per strength, in the order given
    hook: str                         # the hook steered at
    value: float | None               # clamp value / add scale (None for ablate)
    baseline: float                   # the unsteered effect
    prompt: str | None = None         # language models: the prompt
    concept: str | None = None        # the text whose log-probability (LLM) or cosine (CLIP) is the effect
    baseline_generation: str | None = None  # language models: the unsteered continuation
    n_images: int | None = None       # vision models: images the effect is averaged over
    data: str | None = None           # vision models: the dataset spec
