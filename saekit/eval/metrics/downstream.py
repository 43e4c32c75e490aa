"""Downstream fidelity: the SAE spliced into its model (SAELens' CE loss score for LMs): saekit.eval.downstream.

Runs only on request (--downstream with --model and --data), in any suite."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

from saekit.common.jsontypes import JSONObject
from saekit.eval.registry import SUITE_NAMES, Column, Metric, MetricCall

if TYPE_CHECKING:
    from saekit.data import Sample
    from saekit.models.base import HookedModel
    from saekit.sae import SAE


class Splice(Protocol):
    def __call__(self, sae: SAE, model: HookedModel, samples: Sequence[Sample], batch_size: int = 8,
                 progress: bool = False) -> JSONObject: ...


def spliced(call: MetricCall, evaluate: Splice) -> JSONObject:
    """``evaluate(sae, model, samples, ...)`` on the caller's model and the split's first --n-samples samples
    (the model and the dataset loaded once, by the command's inputs)."""
    from saekit.eval.downstream import split_samples

    inp, sae = call.inp, call.sae
    assert inp.model and inp.data  # EvalConfig requires both with --downstream
    model = inp.inputs.load_model(inp.model, str(sae.device))
    samples = split_samples(inp.inputs.load_dataset(inp.data), call.rows.split, inp.n_samples)
    res = evaluate(sae, model, samples, batch_size=inp.downstream_batch_size, progress=inp.progress)
    return {"split": call.rows.split.name, **res}


def _compute(call: MetricCall) -> JSONObject:
    from saekit.eval.downstream import evaluate_downstream

    return spliced(call, evaluate_downstream)


METRIC = Metric(
    name="downstream", compute=_compute, suites=tuple(s for s in SUITE_NAMES if s not in ("visaebench", "all")),
    inputs=("rows", "dataset"), counts="samples", order=80, on_request=True,
    reference="SAELens 6.54 evals for LMs (ce_loss_score, kl_div_score and their parts); "
              "ce_loss_recovered_kept_tokens and the vision keys: saekit's own",
    columns=(Column("CE loss score", ("ce_loss_score",)), Column("KL div score", ("kl_div_score",))))
