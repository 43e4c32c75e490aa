"""`saekit eval`: a metric suite on one split of a store (held-out samples by default).

The metrics and the suites that run them are declared in saekit.eval.registry (one file per metric in
saekit/eval/metrics/). Every metric's result is a dict, or {"skipped": reason} when it cannot run. A
data metric whose input is missing (labels for probing, patch positions for spatial coherence, enough
held-out samples) is an error under a named suite (the caller asked for it) and a skip under "all",
which runs whatever applies. Metrics that need an extra input the caller did not give (a second SAE
for stability, explanation scores for autointerp, the language model for absorption; for the MS, an
independent embedding when none can be had from the store's model, saekit.eval.ms) are skipped with
the reason in any suite. Metrics run on request (--downstream) raise their errors: the caller asked.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.config import EvalConfig
from saekit.eval.encode import encode_rows
from saekit.eval.registry import Metric, MetricCall, MetricInputs, suite_metrics
from saekit.eval.rows import EvalRows, load_rows, resolve_split
from saekit.eval.transcoder import is_paired, paired_rows
from saekit.inputs import Inputs
from saekit.sae import load_sae, SAE

if TYPE_CHECKING:
    from saekit.results import EvaluationDocument
    from stores import ActivationStore

log = logging.getLogger(__name__)


def run_metrics(sae: SAE, rows: EvalRows, metrics: tuple[Metric, ...], inp: MetricInputs, strict: bool,
                batch_size: int = 4096) -> dict[str, JSONObject]:
    """{metric: result or {"skipped": reason}} plus "timing_s", from one encoding pass (none for the paired
    rows of a transcoder or crosscoder). With ``strict`` (a named suite), a data metric whose input the
    store lacks raises instead of being skipped."""
    t0 = time.perf_counter()
    enc = None if is_paired(sae) else encode_rows(sae, rows, batch_size)
    timing = {"encode": time.perf_counter() - t0}
    call = MetricCall(sae, rows, enc, inp)
    out: dict[str, JSONObject] = {}
    for metric in metrics:
        if metric.on_request and not inp.downstream:
            continue
        t = time.perf_counter()
        try:
            out[metric.name] = metric.compute(call)
        except SaekitError as exc:
            if (strict and metric.data_only) or metric.on_request:
                raise
            out[metric.name] = {"skipped": str(exc)}
        timing[metric.name] = time.perf_counter() - t
        if "skipped" in out[metric.name]:
            log.info("%s skipped: %s", metric.name, out[metric.name]["skipped"])
    out["timing_s"] = {k: round(v, 3) for k, v in timing.items()}
    return out


def open_rows(sae: SAE, source: ActivationStore, hook: str | None, split: str, holdout: float | None,
              max_rows: int | None, max_samples: int | None) -> EvalRows:
    """The split's rows of the SAE's hook (``hook`` overrides it); a transcoder's or crosscoder's paired rows."""
    if is_paired(sae):
        if hook and hook != sae.cfg.hook:
            raise SaekitError(f"--hook {hook!r}: a transcoder or crosscoder is evaluated on its own hooks "
                              f"({', '.join(sae.cfg.input_hooks + sae.cfg.target_hooks)})")
        return paired_rows(sae, source, resolve_split(sae, split, holdout), max_rows, max_samples)
    return load_rows(source, hook or sae.cfg.hook, resolve_split(sae, split, holdout), max_rows, max_samples)


def applicable(metrics: tuple[Metric, ...], sae: SAE) -> tuple[Metric, ...]:
    """The metrics that apply to ``sae``: those on paired rows for a transcoder or crosscoder, the rest otherwise."""
    paired = is_paired(sae)
    return tuple(m for m in metrics if ("paired" in m.inputs) == paired)


def eval_inputs(cfg: EvalConfig) -> Inputs:
    """The inputs of one `saekit eval` run: the SAE, the store, and the model and dataset --downstream splices."""
    from saekit.common.device import resolve_device

    return Inputs(sae=cfg.sae, store=cfg.store, data=cfg.data, model=cfg.model, device=str(resolve_device(cfg.device)))


def run_eval(cfg: EvalConfig) -> JSONObject:
    """The chosen suite of metrics of cfg.sae on cfg.store's chosen split, as one dict (what
    `saekit eval --json` prints); eval.json is written when cfg.out is set."""
    with eval_inputs(cfg) as inputs:
        return evaluate_suite(cfg, inputs, document=bool(cfg.out))[0]


def evaluate_suite(cfg: EvalConfig, inputs: Inputs, document: bool) -> tuple[JSONObject, EvaluationDocument | None]:
    """(the metrics dict, the evaluation document when ``document``; saved into cfg.out when set), each input
    opened once by ``inputs``."""
    sae, source = inputs.sae, inputs.store
    rows = open_rows(sae, source, cfg.hook, cfg.split, cfg.holdout, cfg.max_rows, cfg.max_samples)
    reference = load_sae(cfg.reference_sae, device=inputs.device) if cfg.reference_sae else None
    inp = MetricInputs(inputs, reference, cfg.ms_embeddings, cfg.names, cfg.seed, cfg.model, inputs.device,
                       cfg.ms_max_samples, data=cfg.data, downstream=cfg.downstream,
                       n_samples=cfg.n_samples, downstream_batch_size=cfg.downstream_batch_size, progress=cfg.progress)
    metrics = run_metrics(sae, rows, applicable(suite_metrics(cfg.suite), sae), inp, strict=cfg.suite != "all",
                          batch_size=cfg.batch_size)
    result: JSONObject = {"sae": cfg.sae, "store": cfg.store, "hook": rows.hook, "arch": sae.cfg.arch,
                          "d_in": sae.cfg.d_in, "d_sae": sae.cfg.d_sae, "suite": cfg.suite,
                          "split": rows.split.to_dict(), "metrics": metrics}
    if not (document or cfg.out):
        return result, None
    from saekit.eval.document import evaluation_document, sae_ref, store_ref

    first = sae.cfg.input_hooks[0] if is_paired(sae) else rows.hook  # a crosscoder's joined name is no store hook
    doc = evaluation_document(result, sae_ref(sae, cfg.sae), store_ref(source, cfg.store, first))
    if cfg.out:
        doc.save(cfg.out)
    return result, doc
