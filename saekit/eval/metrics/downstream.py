"""Downstream fidelity: the SAE spliced into its model (SAELens' CE loss score for LMs): saekit.eval.downstream.

Runs only on request (--downstream with --model and --data), in any suite."""
from __future__ import annotations

from typing import Any, Callable

from saekit.eval.registry import SUITE_NAMES, Column, Metric, MetricCall


def spliced(call: MetricCall, evaluate: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """``evaluate(sae, model, samples, ...)`` on the caller's model and the split's first --n-samples samples."""
    from saekit.data import load_dataset
    from saekit.eval.downstream import split_samples
    from saekit.models import load_model

    inp, sae = call.inp, call.sae
    model = load_model(inp.model, sae.device)
    samples = split_samples(load_dataset(inp.data), call.rows.split.to_dict(), inp.n_samples)
    res = evaluate(sae, model, samples, batch_size=inp.downstream_batch_size, progress=inp.progress)
    return {"split": call.rows.split.name, **res}


def _compute(call: MetricCall) -> dict[str, Any]:
    from saekit.eval.downstream import evaluate_downstream

    return spliced(call, evaluate_downstream)


METRIC = Metric(
    name="downstream", compute=_compute, suites=tuple(s for s in SUITE_NAMES if s not in ("visaebench", "all")),
    inputs=("rows", "dataset"), counts="samples", order=80, on_request=True,
    reference="SAELens 6.54 evals for LMs (ce_loss_score, kl_div_score and their parts); "
              "ce_loss_recovered_kept_tokens and the vision keys: saekit's own",
    columns=(Column("CE loss score", ("ce_loss_score",)), Column("KL div score", ("kl_div_score",))))
