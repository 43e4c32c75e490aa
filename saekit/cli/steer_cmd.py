"""`saekit steer`: steer a model with one SAE latent over a sweep of strengths and measure the effect."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "steer a model with an SAE latent (clamp / add / ablate) over a strength sweep; writes steer.json + a dose-response plot"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model spec (hf:..., offline:smollm2-135m, random:gpt2, ...)")
    p.add_argument("--sae", required=True, help="SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:; PATH may be hf:REPO[@REV]/PATH)")
    p.add_argument("--latent", required=True, type=int, help="latent index to steer")
    p.add_argument("--hook", default=None, help="hook to steer at (default: the hook the SAE was trained on)")
    p.add_argument("--mode", choices=("clamp", "add", "ablate"), default="clamp")
    p.add_argument("--value", type=float, default=None,
                   help="clamp value / add scale (default: the latent's max activation on the inputs)")
    p.add_argument("--strengths", default="0,1,2,4", help="comma-separated strengths (default 0,1,2,4)")
    p.add_argument("--positions", default="all", help="all, comma-separated token indices (e.g. 0,-1) or a slice START:STOP")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", default=None, help="a text prompt (language models)")
    src.add_argument("--data", default=None, help="a dataset (images for vision models, texts for language models)")
    p.add_argument("--limit", type=int, default=16, help="number of samples from --data (default 16)")
    p.add_argument("--concept", default=None,
                   help="LLM: measure log p(concept | prompt); CLIP: measure cosine to the concept's text embedding")
    p.add_argument("--class-index", type=int, default=None, help="vision model with a head: measure this class's logit")
    p.add_argument("--max-new-tokens", type=int, default=20, help="LLM: greedy generation length per strength")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--device", default="auto")


def parse_strengths(text: str) -> list[float]:
    from saekit.errors import SaekitError

    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SaekitError(f"--strengths {text!r} is not a comma-separated list of numbers (e.g. 0,1,2,4)") from None
    if not values:
        raise SaekitError("--strengths is empty (expected e.g. 0,1,2,4)")
    return values


def parse_positions(text: str) -> Any:
    from saekit.errors import SaekitError

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


def run(args: argparse.Namespace) -> int:
    import torch

    from saekit.analysis import steering as st
    from saekit.errors import SaekitError
    from saekit.models import load_model
    from saekit.sae import SAE

    strengths = parse_strengths(args.strengths)
    positions = parse_positions(args.positions)
    sae = SAE.load(args.sae, device="cpu")
    hook = args.hook or sae.cfg.hook
    if not hook:
        raise SaekitError("the SAE config names no hook; pass --hook")
    if not 0 <= args.latent < sae.cfg.d_sae:
        raise SaekitError(f"--latent {args.latent} is out of range for this SAE (expected 0 <= latent < d_sae={sae.cfg.d_sae})")
    if sae.cfg.hook and hook != sae.cfg.hook:
        raise SaekitError(f"--hook {hook!r} differs from the hook the SAE was trained on ({sae.cfg.hook!r})")
    model = load_model(args.model, device=args.device)
    sae = sae.to(model.device)
    st.check_hook(model, hook, sae)

    texts: list[str] | None = None
    samples = None
    if args.prompt is not None:
        if model.modality != "text":
            raise SaekitError(f"--prompt is for language models; {args.model} takes images (use --data)")
        texts = [args.prompt]
    else:
        from saekit.data import load_dataset

        ds = load_dataset(args.data)
        n = min(len(ds), max(1, args.limit))
        samples = [ds[i] for i in range(n)]
        if model.modality == "text":
            texts = [s.text for s in samples if s.text]
            if not texts:
                raise SaekitError(f"--data {args.data!r} has no texts for language model {args.model}")

    extras: dict[str, Any] = {}
    if model.modality == "text":
        from saekit.data import Sample

        inputs = model.prepare([Sample(id=i, source="prompt", text=t) for i, t in enumerate(texts)])
        _check_width(model, hook, sae, inputs)
        concept = args.concept
        baseline_gen = st.greedy_generate(model, texts[0], args.max_new_tokens)
        if not concept:
            concept = baseline_gen.strip() or "the"
            effect_name = "log p(unsteered continuation)"
        else:
            effect_name = f"log p({concept!r})"
        result = st.dose_response(model, hook, sae, args.latent, inputs, strengths, mode=args.mode, value=args.value,
                                  positions=positions, effect_fn=lambda: st.concept_logprob(model, texts, concept),
                                  effect_name=effect_name)
        for row in result.rows:
            with st.steer(model, hook, sae, {args.latent: float(result.extras["value"] or 0.0)}, mode=args.mode,
                          positions=positions, strength=row["strength"]):
                row["generation"] = st.greedy_generate(model, texts[0], args.max_new_tokens)
        extras = {"prompt": texts[0], "concept": concept, "baseline_generation": baseline_gen}
    else:
        inputs = model.prepare(samples)
        _check_width(model, hook, sae, inputs)
        with torch.no_grad():
            out = model.forward(inputs)
        if args.concept:
            if not hasattr(model, "embed_texts") or model.modality != "image-text":
                raise SaekitError(f"--concept needs a model with a text tower (CLIP); {args.model} has none "
                                  "(use --class-index, or a CLIP model)")
            direction = model.embed_texts([args.concept])[0]
            readout, effect_name = st.direction_readout(direction, cosine=True), f"cos(image, text {args.concept!r})"
        else:
            c = args.class_index if args.class_index is not None else int(out.float().mean(0).argmax())
            readout, effect_name = st.class_logit_readout(c), f"logit of class {c}"
        result = st.dose_response(model, hook, sae, args.latent, inputs, strengths, mode=args.mode, value=args.value,
                                  positions=positions, readout=readout, effect_name=effect_name)
        extras = {"n_images": len(samples), "data": args.data}

    from saekit.atomic import write_text_atomic
    from saekit.results import SteeringDocument, sae_fingerprint

    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    SteeringDocument.path_in(out_dir).unlink(missing_ok=True)  # steer.json marks the directory complete
    plots = result.save(out_dir)
    doc = SteeringDocument.of({
        "model": model.model_id,
        "sae": {"path": str(args.sae), "fingerprint": sae_fingerprint(sae), "hook": sae.cfg.hook,
                "d_sae": sae.cfg.d_sae, "d_in": sae.cfg.d_in, "arch": sae.cfg.arch},
        "positions": args.positions, "plots": plots, **result.to_dict(), **extras})
    write_text_atomic(out_dir / "index.html", _html(doc))
    marker = doc.save(out_dir) / SteeringDocument.FILENAME
    print(f"{model.model_id}: latent {args.latent} ({args.mode}) at {hook}; effect = {result.effect_name}")
    print(f"  baseline {result.extras['baseline']:.4g}")
    for row in result.rows:
        gen = f"  | {row['generation']!r}" if "generation" in row else ""
        print(f"  strength {row['strength']:>6g}: effect {row['effect']:.4g} (delta {row['delta']:+.4g}){gen}")
    print(f"wrote {marker}")
    return 0


def _check_width(model: Any, hook: str, sae: Any, inputs: Any) -> None:
    from saekit.errors import SaekitError

    width = model.capture(inputs, [hook])[hook].shape[-1]
    if width != sae.cfg.d_in:
        raise SaekitError(f"activations at {hook} have width {width} but the SAE expects d_in={sae.cfg.d_in}")


def _html(doc: Any) -> str:
    import html

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
