"""The audit's document: what the method found (a ``ConceptScopeResult``, already in the document's
types) plus where it came from (SAE, model, dataset, test images, text space, names)."""
from __future__ import annotations

from saekit.analysis.conceptscope.result import ConceptScopeResult
from saekit.common.jsontypes import JSONObject
from saekit.results.audit import AuditDataset, AuditDocument, AuditTest, ModelRef
from saekit.results.refs import SaeRef

#: the method's parameters audit.json records (its "params")
PARAMS = ("alpha", "n_per_class", "top_k", "validity", "active_threshold", "min_active_images", "noisy_freq",
          "bias_rule", "min_lift", "min_auc", "sigma", "gamma_only", "gamma_removed", "prompt", "seed", "similarity",
          "subgroup_threshold", "subgroup_clip")


def audit_document(result: ConceptScopeResult, *, sae: SaeRef, model: ModelRef, dataset: AuditDataset,
                   test: AuditTest | None, text_space: JSONObject | None, names: str | None) -> AuditDocument:
    """The AuditDocument of `result`; `dataset` gets the audited image count and classes from the result."""
    cfg = result.config
    return AuditDocument(
        sae=sae, model=model,
        dataset=AuditDataset(spec=dataset.spec, fingerprint=dataset.fingerprint, n_total=dataset.n_total,
                             held_out=dataset.held_out, n_images=result.n_images, classes=tuple(result.class_names)),
        test=test, text_space=text_space, names=names,
        params={k: getattr(cfg, k) for k in PARAMS},
        latents=result.latents, classes=dict(result.classes), biases=result.biases(), classifier=result.classifier,
        subgroups=result.subgroups, accuracy_by_group=result.accuracy_by_group,
        timings_s={k: round(v, 3) for k, v in result.timings.items()},
        masked_copies={"defined": result.n_masked, "forwarded": result.n_forwarded})
