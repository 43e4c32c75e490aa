"""Steering a model with SAE latents, and `saekit steer` (a dose-response sweep over strengths).

One module per idea: ``edit`` (the edit itself: clamp / add / ablate at chosen positions, and the
``steer`` context manager, served as ``saekit.steered``), ``crosscoder`` (a crosscoder's latent written
into each of its hooks), ``dose`` (readouts and the dose-response sweep), ``text`` (greedy generation
and a concept's log-probability for language models), ``plots`` (the PNG line plot); the command:
``config`` (SteerConfig), ``run`` (``steer(SteerConfig) -> SteeringDocument``), ``report`` (index.html)
and ``summary`` (what the CLI prints).

The names below are the steering API, imported lazily (``from saekit.analysis import steering``;
``steering.steer(model, hook, sae, {latent: value})``).
"""
from __future__ import annotations

from saekit.common.lazy import lazy_exports

_EDIT = "saekit.analysis.steering.edit"
_DOSE = "saekit.analysis.steering.dose"
_TEXT = "saekit.analysis.steering.text"
__getattr__, __dir__ = lazy_exports(__name__, {
    "MODES": _EDIT, "Positions": _EDIT, "SteerSpec": _EDIT, "check_hook": _EDIT, "normalize_latents": _EDIT,
    "position_mask": _EDIT, "steer": _EDIT, "steer_activations": _EDIT,
    "DoseResponse": _DOSE, "Readout": _DOSE, "class_logit_readout": _DOSE, "direction_readout": _DOSE,
    "dose_response": _DOSE, "latent_max_activation": _DOSE, "measure_readout": _DOSE,
    "concept_logprob": _TEXT, "greedy_generate": _TEXT})
__all__ = ["DoseResponse", "MODES", "Positions", "Readout", "SteerSpec", "check_hook", "class_logit_readout",
           "concept_logprob", "direction_readout", "dose_response", "greedy_generate", "latent_max_activation",
           "measure_readout", "normalize_latents", "position_mask", "steer", "steer_activations"]
