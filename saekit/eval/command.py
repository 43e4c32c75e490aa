"""The `eval` command as a function: ``saekit.eval(EvalConfig(...))`` (the ``saekit.eval`` package is
callable as this function, like ``saekit.train`` and ``saekit.capture``).

The function is named ``eval`` like its command; inside this module that hides Python's builtin
``eval``, which saekit never uses. ``saekit.evaluate`` is a different, older function: the core
metrics of an SAE already in memory.
"""
from __future__ import annotations

from dataclasses import dataclass

from saekit.common.jsontypes import JSONObject
from saekit.eval.config import EvalConfig
from saekit.results import EvaluationDocument


@dataclass(frozen=True)
class Evaluation:
    """What `saekit eval` computes: the typed document (eval.json) and the full metrics, histograms
    and per-class tables included (what ``--json`` prints)."""

    document: EvaluationDocument
    details: JSONObject  # sae, store, hook, arch, d_in, d_sae, suite, split, metrics

    def to_json(self) -> JSONObject:
        return self.details


def eval(cfg: EvalConfig) -> Evaluation:  # noqa: A001 - named like the command
    """The chosen metric suite of cfg.sae on cfg.store's chosen split; eval.json in cfg.out when set."""
    from saekit.eval.suite import eval_inputs, evaluate_suite

    with eval_inputs(cfg) as inputs:
        details, document = evaluate_suite(cfg, inputs, document=True)
    assert document is not None
    return Evaluation(document, details)
