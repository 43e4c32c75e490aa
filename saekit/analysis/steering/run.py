"""The `steer` command: ``steer(SteerConfig(...)) -> SteeringDocument``.

Steers a model with one SAE latent over a sweep of strengths (saekit.analysis.steering.dose) and
measures the effect: for a language model the log-probability of a concept (or of the unsteered
continuation) after the prompt, plus a greedy generation per strength; for a vision model the
cosine to a concept's text embedding (CLIP) or a class logit. Writes the dose-response plot,
index.html and, last, steer.json (its presence marks a complete directory).

The SAE, the model and the dataset come from one ``saekit.inputs.Inputs``, each loaded once.
``saekit.steer`` is this function; the context manager that steers a model
(``saekit.analysis.steering.edit.steer``) is ``saekit.steered``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from saekit.analysis.steering.config import PositionSpec, SteerConfig, parse_positions
from saekit.common.errors import SaekitError
from saekit.results import SteeringDocument

if TYPE_CHECKING:
    from saekit.analysis.steering.dose import DoseResponse, ModelInputs
    from saekit.data import Sample
    from saekit.inputs import Inputs
    from saekit.models.base import HookedModel
    from saekit.sae import SAE


@dataclass(frozen=True)
class SweepContext:
    """What the document records beside the sweep: the prompt and concept (language models) or the images."""

    prompt: str | None = None
    concept: str | None = None
    baseline_generation: str | None = None
    n_images: int | None = None
    data: str | None = None


def steer(cfg: SteerConfig) -> SteeringDocument:
    from saekit.analysis.steering.edit import check_hook
    from saekit.analysis.steering.report import render_html
    from saekit.common.atomic import write_text_atomic
    from saekit.common.device import resolve_device
    from saekit.inputs import Inputs
    from saekit.results import SaeRef, sae_fingerprint

    positions = parse_positions(cfg.positions)
    with Inputs(sae=cfg.sae, model=cfg.model, data=cfg.data, device=str(resolve_device(cfg.device))) as inputs:
        sae = inputs.sae
        hook = cfg.hook or sae.cfg.hook
        if not hook:
            raise SaekitError("the SAE config names no hook; pass --hook")
        if not 0 <= cfg.latent < sae.cfg.d_sae:
            raise SaekitError(f"--latent {cfg.latent} is out of range for this SAE (expected 0 <= latent < d_sae={sae.cfg.d_sae})")
        if sae.cfg.hook and hook != sae.cfg.hook:
            raise SaekitError(f"--hook {hook!r} differs from the hook the SAE was trained on ({sae.cfg.hook!r})")
        model = inputs.model
        check_hook(model, hook, sae)
        sweep = _text_sweep if model.modality == "text" else _image_sweep
        result, context = sweep(cfg, inputs, hook, positions)

    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    SteeringDocument.path_in(out_dir).unlink(missing_ok=True)  # steer.json marks the directory complete
    plots = result.save(out_dir)
    doc = SteeringDocument(
        model=model.model_id,
        sae=SaeRef(path=str(cfg.sae), fingerprint=sae_fingerprint(sae), hook=sae.cfg.hook, d_sae=sae.cfg.d_sae,
                   d_in=sae.cfg.d_in, arch=sae.cfg.arch),
        positions=cfg.positions, plots=plots, latent=result.latent, mode=result.mode, effect=result.effect_name,
        rows=result.rows, hook=result.hook, value=result.value, baseline=result.baseline, prompt=context.prompt,
        concept=context.concept, baseline_generation=context.baseline_generation, n_images=context.n_images,
        data=context.data)
    write_text_atomic(out_dir / "index.html", render_html(doc))
    doc.save(out_dir)
    return doc


def _samples(cfg: SteerConfig, inputs: Inputs) -> list[Sample]:
    ds = inputs.dataset
    return [ds[i] for i in range(min(len(ds), max(1, cfg.limit)))]


def _text_sweep(cfg: SteerConfig, inputs: Inputs, hook: str, positions: PositionSpec
                ) -> tuple[DoseResponse, SweepContext]:
    """Language model: log p(concept | prompt) per strength, and a greedy generation per strength."""
    from saekit.analysis.steering.dose import dose_response
    from saekit.analysis.steering.edit import steer as steered
    from saekit.analysis.steering.text import concept_logprob, greedy_generate
    from saekit.data import Sample

    model, sae = inputs.model, inputs.sae
    if cfg.prompt is not None:
        texts = [cfg.prompt]
    else:
        texts = [s.text for s in _samples(cfg, inputs) if s.text]
        if not texts:
            raise SaekitError(f"--data {cfg.data!r} has no texts for language model {cfg.model}")
    prepared = model.prepare([Sample(id=i, source="prompt", text=t) for i, t in enumerate(texts)])
    _check_width(model, hook, sae, prepared)
    baseline_gen = greedy_generate(model, texts[0], cfg.max_new_tokens)
    concept = cfg.concept or baseline_gen.strip() or "the"
    effect_name = f"log p({concept!r})" if cfg.concept else "log p(unsteered continuation)"
    result = dose_response(model, hook, sae, cfg.latent, prepared, list(cfg.strengths), mode=cfg.mode,
                           value=cfg.value, positions=positions,
                           effect_fn=lambda: concept_logprob(model, texts, concept), effect_name=effect_name)
    generations = []
    for row in result.rows:
        with steered(model, hook, sae, {cfg.latent: float(result.value or 0.0)}, mode=cfg.mode,
                     positions=positions, strength=row.strength):
            generations.append(greedy_generate(model, texts[0], cfg.max_new_tokens))
    context = SweepContext(prompt=texts[0], concept=concept, baseline_generation=baseline_gen)
    return result.with_generations(generations), context


def _image_sweep(cfg: SteerConfig, inputs: Inputs, hook: str, positions: PositionSpec
                 ) -> tuple[DoseResponse, SweepContext]:
    """Vision model: the cosine to a concept's text embedding (CLIP) or a class logit per strength."""
    import torch

    from saekit.analysis.steering.dose import class_logit_readout, direction_readout, dose_response

    model, sae = inputs.model, inputs.sae
    if cfg.prompt is not None:
        raise SaekitError(f"--prompt is for language models; {cfg.model} takes images (use --data)")
    samples = _samples(cfg, inputs)
    prepared = model.prepare(samples)
    _check_width(model, hook, sae, prepared)
    with torch.no_grad():
        out = model.forward(prepared)
    if cfg.concept:
        if not hasattr(model, "embed_texts") or model.modality != "image-text":
            raise SaekitError(f"--concept needs a model with a text tower (CLIP); {cfg.model} has none "
                              "(use --class-index, or a CLIP model)")
        direction = model.embed_texts([cfg.concept])[0]
        readout, effect_name = direction_readout(direction, cosine=True), f"cos(image, text {cfg.concept!r})"
    else:
        c = cfg.class_index if cfg.class_index is not None else int(out.float().mean(0).argmax())
        readout, effect_name = class_logit_readout(c), f"logit of class {c}"
    result = dose_response(model, hook, sae, cfg.latent, prepared, list(cfg.strengths), mode=cfg.mode,
                           value=cfg.value, positions=positions, readout=readout, effect_name=effect_name)
    return result, SweepContext(n_images=len(samples), data=cfg.data)


def _check_width(model: HookedModel, hook: str, sae: SAE, prepared: ModelInputs) -> None:
    from saekit.analysis.steering.crosscoder import sae_input

    width = sae_input(model, hook, sae, prepared).shape[-1]  # a crosscoder's hooks side by side
    if width != sae.cfg.d_in:
        raise SaekitError(f"activations at {hook} have width {width} but the SAE expects d_in={sae.cfg.d_in}")
