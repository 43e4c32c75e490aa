"""The `steer` command: ``steer(SteerConfig(...)) -> SteeringDocument``.

Steers a model with one SAE latent over a sweep of strengths (saekit.analysis.steering) and
measures the effect: for a language model the log-probability of a concept (or of the unsteered
continuation) after the prompt, plus a greedy generation per strength; for a vision model the
cosine to a concept's text embedding (CLIP) or a class logit. Writes the dose-response plot,
index.html and, last, steer.json (its presence marks a complete directory).

``saekit.steer`` is this function; the context manager that steers a model
(``saekit.analysis.steering.steer``) is ``saekit.steered``.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from saekit.common.errors import SaekitError
from saekit.results import SteeringDocument

SAE_SPEC = ("SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:; "
            "PATH may be hf:REPO[@REV]/PATH)")


@dataclass(frozen=True)
class SteerConfig:
    model: str  # model spec (hf:..., offline:smollm2-135m, random:gpt2, ...)
    sae: str = field(metadata={"help": SAE_SPEC})
    latent: int  # latent index to steer
    out: str  # output directory
    hook: str | None = None  # hook to steer at (default: the hook the SAE was trained on)
    mode: str = "clamp"  # clamp the latent to the value, add value x direction, or ablate it
    value: float | None = None  # clamp value / add scale (default: the latent's max activation on the inputs)
    strengths: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0)  # steering strengths, comma-separated
    positions: str = "all"  # all, comma-separated token indices (e.g. 0,-1) or a slice START:STOP
    prompt: str | None = None  # a text prompt (language models); give this or --data
    data: str | None = None  # a dataset (images for vision models, texts for language models); give this or --prompt
    limit: int = 16  # number of samples from --data
    concept: str | None = None  # LLM: measure log p(concept | prompt); CLIP: measure cosine to the concept's text embedding
    class_index: int | None = None  # vision model with a head: measure this class's logit
    max_new_tokens: int = 20  # LLM: greedy generation length per strength
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N

    CLI: ClassVar[dict[str, dict]] = {"mode": {"choices": ("clamp", "add", "ablate")}}

    def __post_init__(self) -> None:
        object.__setattr__(self, "strengths", tuple(float(s) for s in self.strengths))
        if not self.strengths:
            raise SaekitError("--strengths is empty (expected e.g. 0,1,2,4)")
        if (self.prompt is None) == (self.data is None):
            raise SaekitError("give one of --prompt (a text) or --data (a dataset)")
        if self.mode not in ("clamp", "add", "ablate"):
            raise SaekitError(f"--mode must be clamp, add or ablate, got {self.mode!r}")
        parse_positions(self.positions)


def parse_positions(text: str) -> Any:
    """"all", a list of token indices ("0,-1") or a slice ("1:5")."""
    text = text.strip()
    if text == "all":
        return "all"
    try:
        if ":" in text:
            a, _, b = text.partition(":")
            return slice(int(a) if a else None, int(b) if b else None)
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SaekitError(f"--positions {text!r} is not 'all', a list of indices (0,-1) or a slice (1:5)") from None


def steer(cfg: SteerConfig) -> SteeringDocument:
    from saekit.common.atomic import write_text_atomic
    from saekit.models import load_model
    from saekit.results import sae_fingerprint
    from saekit.sae import load_sae, SAE

    positions = parse_positions(cfg.positions)
    sae = load_sae(cfg.sae, device="cpu")
    hook = cfg.hook or sae.cfg.hook
    if not hook:
        raise SaekitError("the SAE config names no hook; pass --hook")
    if not 0 <= cfg.latent < sae.cfg.d_sae:
        raise SaekitError(f"--latent {cfg.latent} is out of range for this SAE (expected 0 <= latent < d_sae={sae.cfg.d_sae})")
    if sae.cfg.hook and hook != sae.cfg.hook:
        raise SaekitError(f"--hook {hook!r} differs from the hook the SAE was trained on ({sae.cfg.hook!r})")
    model = load_model(cfg.model, device=cfg.device)
    sae = sae.to(model.device)
    from saekit.analysis import steering as st

    st.check_hook(model, hook, sae)
    sweep = _text_sweep if model.modality == "text" else _image_sweep
    result, extras = sweep(cfg, model, hook, sae, positions)

    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    SteeringDocument.path_in(out_dir).unlink(missing_ok=True)  # steer.json marks the directory complete
    plots = result.save(out_dir)
    doc = SteeringDocument.of({
        "model": model.model_id,
        "sae": {"path": str(cfg.sae), "fingerprint": sae_fingerprint(sae), "hook": sae.cfg.hook,
                "d_sae": sae.cfg.d_sae, "d_in": sae.cfg.d_in, "arch": sae.cfg.arch},
        "positions": cfg.positions, "plots": plots, **result.to_dict(), **extras})
    write_text_atomic(out_dir / "index.html", render_html(doc))
    doc.save(out_dir)
    return doc


def _samples(cfg: SteerConfig) -> list[Any]:
    from saekit.data import load_dataset

    ds = load_dataset(cfg.data)
    return [ds[i] for i in range(min(len(ds), max(1, cfg.limit)))]


def _text_sweep(cfg: SteerConfig, model: Any, hook: str, sae: Any, positions: Any) -> tuple[Any, dict[str, Any]]:
    """Language model: log p(concept | prompt) per strength, and a greedy generation per strength."""
    from saekit.analysis import steering as st
    from saekit.data import Sample

    if cfg.prompt is not None:
        texts = [cfg.prompt]
    else:
        texts = [s.text for s in _samples(cfg) if s.text]
        if not texts:
            raise SaekitError(f"--data {cfg.data!r} has no texts for language model {cfg.model}")
    inputs = model.prepare([Sample(id=i, source="prompt", text=t) for i, t in enumerate(texts)])
    _check_width(model, hook, sae, inputs)
    baseline_gen = st.greedy_generate(model, texts[0], cfg.max_new_tokens)
    concept = cfg.concept or baseline_gen.strip() or "the"
    effect_name = f"log p({concept!r})" if cfg.concept else "log p(unsteered continuation)"
    result = st.dose_response(model, hook, sae, cfg.latent, inputs, list(cfg.strengths), mode=cfg.mode,
                              value=cfg.value, positions=positions,
                              effect_fn=lambda: st.concept_logprob(model, texts, concept), effect_name=effect_name)
    for row in result.rows:
        with st.steer(model, hook, sae, {cfg.latent: float(result.extras["value"] or 0.0)}, mode=cfg.mode,
                      positions=positions, strength=row["strength"]):
            row["generation"] = st.greedy_generate(model, texts[0], cfg.max_new_tokens)
    return result, {"prompt": texts[0], "concept": concept, "baseline_generation": baseline_gen}


def _image_sweep(cfg: SteerConfig, model: Any, hook: str, sae: Any, positions: Any) -> tuple[Any, dict[str, Any]]:
    """Vision model: the cosine to a concept's text embedding (CLIP) or a class logit per strength."""
    import torch

    from saekit.analysis import steering as st

    if cfg.prompt is not None:
        raise SaekitError(f"--prompt is for language models; {cfg.model} takes images (use --data)")
    samples = _samples(cfg)
    inputs = model.prepare(samples)
    _check_width(model, hook, sae, inputs)
    with torch.no_grad():
        out = model.forward(inputs)
    if cfg.concept:
        if not hasattr(model, "embed_texts") or model.modality != "image-text":
            raise SaekitError(f"--concept needs a model with a text tower (CLIP); {cfg.model} has none "
                              "(use --class-index, or a CLIP model)")
        direction = model.embed_texts([cfg.concept])[0]
        readout, effect_name = st.direction_readout(direction, cosine=True), f"cos(image, text {cfg.concept!r})"
    else:
        c = cfg.class_index if cfg.class_index is not None else int(out.float().mean(0).argmax())
        readout, effect_name = st.class_logit_readout(c), f"logit of class {c}"
    result = st.dose_response(model, hook, sae, cfg.latent, inputs, list(cfg.strengths), mode=cfg.mode,
                              value=cfg.value, positions=positions, readout=readout, effect_name=effect_name)
    return result, {"n_images": len(samples), "data": cfg.data}


def _check_width(model: Any, hook: str, sae: Any, inputs: Any) -> None:
    from saekit.analysis.steering_crosscoder import sae_input

    width = sae_input(model, hook, sae, inputs).shape[-1]  # a crosscoder's hooks side by side
    if width != sae.cfg.d_in:
        raise SaekitError(f"activations at {hook} have width {width} but the SAE expects d_in={sae.cfg.d_in}")


def render_html(doc: SteeringDocument) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{r.strength:g}</td><td>{r.effect:.4g}</td><td>{r.delta:+.4g}</td>"
        f"<td>{esc(r.generation or '')}</td></tr>" for r in doc.rows)
    base = f"<p>baseline generation: {esc(doc.baseline_generation)}</p>" if doc.baseline_generation is not None else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>saekit steer</title></head><body>"
            f"<h1>Steering latent {doc.latent} ({esc(doc.mode)}) of {esc(doc.model)}</h1>"
            f"<p>hook {esc(doc.hook)}; effect: {esc(doc.effect)}; baseline {doc.baseline:.4g}</p>{base}"
            f"<table border=1><tr><th>strength</th><th>effect</th><th>delta</th><th>generation</th></tr>{rows}</table>"
            f"<p><img src='{esc(doc.plots.png)}'> <a href='{esc(doc.plots.html)}'>interactive plot</a></p>"
            f"</body></html>")
