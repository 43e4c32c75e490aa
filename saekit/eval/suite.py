"""`saekit eval`: the metric suites on one split of a store (held-out samples by default).

Suites: core | vision | text | all (the metric lists below). Every metric's result is a dict, or
{"skipped": reason} when it cannot run. A metric whose input is missing (labels for probing,
patch positions for spatial coherence, enough held-out samples) is an error under a named suite
(vision, text: the caller asked for it) and a skip under "all", which runs whatever applies.
Metrics that need an extra input the caller did not give (a second SAE for stability, explanation
scores for autointerp, the language model for absorption; for the MS, an independent embedding when
none can be had from the store's model, saekit.eval.ms) are skipped with the reason in any suite.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from saekit.errors import SaekitError
from saekit.eval.absorption import feature_absorption
from saekit.eval.autointerp import autointerp_scores
from saekit.eval.core import core_metrics
from saekit.eval.encode import Encoded, encode_rows
from saekit.eval.ms import chosen_embeddings, ms_distribution, sample_embeddings
from saekit.eval.probing import downstream_preservation, sparse_probing
from saekit.eval.rows import EvalRows, load_rows, resolve_split
from saekit.eval.spatial import spatial_coherence
from saekit.eval.stability import decoder_stability
from saekit.eval.config import SUITES, EvalConfig
from saekit.sae import SAE

if TYPE_CHECKING:
    from saekit.results import EvaluationDocument

log = logging.getLogger(__name__)

DATA_METRICS = ("sparse_probing", "downstream_preservation", "spatial_coherence")


@dataclass(frozen=True)
class MetricInputs:
    """What a metric may use besides the SAE and its encoding."""

    source: Any
    reference: SAE | None = None
    ms_embeddings: str | None = None
    names: str | None = None
    seed: int = 0
    model: str | None = None  # the SAE's model spec (feature absorption)
    device: str = "cpu"  # where the Monosemanticity Score's encoder runs
    ms_max_samples: int | None = 1024
    ms_centre: bool = True  # centred embeddings (saekit) or the paper's raw cosines
    ms_cache: dict = field(default_factory=dict)  # the chosen embedding, once for every SAE of a comparison


def _labels(rows: EvalRows, enc: Encoded) -> list[str]:
    return [rows.labels.get(int(s), "") for s in enc.sample_ids]


def _metric(name: str, sae: SAE, rows: EvalRows, enc: Encoded, inp: MetricInputs) -> dict[str, Any]:
    if name == "core":
        return core_metrics(enc, rows.n_rows, sae.cfg.d_in)
    if name == "sparse_probing":
        return sparse_probing(enc.pooled_z, enc.pooled_x, _labels(rows, enc), seed=inp.seed)
    if name == "downstream_preservation":
        return downstream_preservation(enc.pooled_x, enc.pooled_xhat, _labels(rows, enc), seed=inp.seed)
    if name == "spatial_coherence":
        return spatial_coherence(rows, enc, seed=inp.seed)
    if name == "monosemanticity":
        spec = inp.ms_embeddings
        if spec is None:
            key = (rows.hook, enc.sample_ids.tobytes())
            try:
                if key not in inp.ms_cache:
                    inp.ms_cache[key] = chosen_embeddings(rows, enc, inp.source, inp.device, inp.ms_max_samples,
                                                          inp.seed)
            except SaekitError as exc:
                raise SaekitError(f"no independent embedding ({exc}); pass --ms-embeddings hook:OTHER_HOOK, text "
                                  "or FILE.npy") from None
            pos, emb, what = inp.ms_cache[key]
            return ms_distribution(enc, emb, what, pos, centre=inp.ms_centre)
        return ms_distribution(enc, sample_embeddings(spec, rows, enc, inp.source), spec, centre=inp.ms_centre)
    if name == "stability":
        if inp.reference is None:
            return {"skipped": "needs a second SAE (--reference-sae, or several SAEs in `saekit compare`)"}
        return decoder_stability(sae, inp.reference)
    if name == "autointerp":
        from saekit.results.fingerprint import sae_fingerprint

        return autointerp_scores(inp.names, sae_fingerprint(sae) if inp.names else None)
    if name == "feature_absorption":
        if not inp.model:
            return {"skipped": "needs the SAE's language model (--model, e.g. offline:smollm2-135m)"}
        return feature_absorption(sae, inp.model, seed=inp.seed)
    raise SaekitError(f"unknown metric {name!r}")


def run_metrics(sae: SAE, rows: EvalRows, metrics: tuple[str, ...], inp: MetricInputs, strict: bool,
                batch_size: int = 4096) -> dict[str, Any]:
    """{metric: result or {"skipped": reason}} plus "timing_s", from one encoding pass."""
    t0 = time.perf_counter()
    enc = encode_rows(sae, rows, batch_size)
    timing = {"encode": time.perf_counter() - t0}
    out: dict[str, Any] = {}
    for name in metrics:
        t = time.perf_counter()
        try:
            out[name] = _metric(name, sae, rows, enc, inp)
        except SaekitError as exc:
            if strict and name in DATA_METRICS:
                raise
            out[name] = {"skipped": str(exc)}
        timing[name] = time.perf_counter() - t
        if "skipped" in out[name]:
            log.info("%s skipped: %s", name, out[name]["skipped"])
    out["timing_s"] = {k: round(v, 3) for k, v in timing.items()}
    return out


def open_rows(sae: SAE, source: Any, hook: str | None, split: str, holdout: float | None, max_rows: int | None,
              max_samples: int | None) -> EvalRows:
    return load_rows(source, hook or sae.cfg.hook, resolve_split(sae, split, holdout), max_rows, max_samples)


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    """The chosen suite of metrics of cfg.sae on cfg.store's chosen split, as one dict (what
    `saekit eval --json` prints); eval.json is written when cfg.out is set."""
    return evaluate_suite(cfg, document=bool(cfg.out))[0]


def evaluate_suite(cfg: EvalConfig, document: bool) -> tuple[dict[str, Any], EvaluationDocument | None]:
    """(the metrics dict, the evaluation document when ``document``; saved into cfg.out when set)."""
    from saekit.device import resolve_device
    from saekit.train.data import open_source

    device = resolve_device(cfg.device)
    sae = SAE.load(cfg.sae, device=device)
    source = open_source(cfg.store)
    rows = open_rows(sae, source, cfg.hook, cfg.split, cfg.holdout, cfg.max_rows, cfg.max_samples)
    reference = SAE.load(cfg.reference_sae, device=device) if cfg.reference_sae else None
    inp = MetricInputs(source, reference, cfg.ms_embeddings, cfg.names, cfg.seed, cfg.model, str(device),
                       cfg.ms_max_samples, cfg.ms_centre)
    metrics = run_metrics(sae, rows, SUITES[cfg.suite], inp, strict=cfg.suite != "all", batch_size=cfg.batch_size)
    result = {"sae": cfg.sae, "store": cfg.store, "hook": rows.hook, "arch": sae.cfg.arch, "d_in": sae.cfg.d_in,
              "d_sae": sae.cfg.d_sae, "suite": cfg.suite, "split": rows.split.to_dict(), "metrics": metrics}
    if cfg.downstream:
        metrics["downstream"] = _downstream(cfg, sae, rows.split)
    if not (document or cfg.out):
        return result, None
    from saekit.eval.document import evaluation_document, sae_ref, store_ref

    doc = evaluation_document(result, sae_ref(sae, cfg.sae), store_ref(source, cfg.store, rows.hook))
    if cfg.out:
        doc.save(cfg.out)
    return result, doc


def _downstream(cfg: EvalConfig, sae: SAE, split: Any) -> dict[str, Any]:
    from saekit.data import load_dataset
    from saekit.eval.downstream import evaluate_downstream, split_samples
    from saekit.models import load_model

    model = load_model(cfg.model, sae.device)
    samples = split_samples(load_dataset(cfg.data), split.to_dict(), cfg.n_samples)
    res = evaluate_downstream(sae, model, samples, batch_size=cfg.downstream_batch_size, progress=cfg.progress)
    return {"split": split.name, **res}
