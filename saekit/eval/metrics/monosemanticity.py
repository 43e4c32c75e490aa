"""Monosemanticity Score distribution with an independent embedding (saekit.eval.ms): `ms_*` is Pach et al.'s
(raw cosines), `ms_centred_*` saekit's centred variant, both with the samples' mean pair cosine."""
from __future__ import annotations

from typing import Any

from saekit.common.errors import SaekitError
from saekit.eval.ms import chosen_embeddings, ms_distribution, sample_embeddings
from saekit.eval.registry import Column, Metric, MetricCall


def _compute(call: MetricCall) -> dict[str, Any]:
    rows, enc, inp = call.rows, call.enc, call.inp
    if inp.ms_embeddings is not None:
        emb = sample_embeddings(inp.ms_embeddings, rows, enc, inp.source)
        return ms_distribution(enc, emb, inp.ms_embeddings)
    key = (rows.hook, enc.sample_ids.tobytes())
    try:
        if key not in inp.ms_cache:
            inp.ms_cache[key] = chosen_embeddings(rows, enc, inp.source, inp.device, inp.ms_max_samples, inp.seed,
                                                  inp.inputs)
    except SaekitError as exc:
        raise SaekitError(f"no independent embedding ({exc}); pass --ms-embeddings hook:OTHER_HOOK, text "
                          "or FILE.npy") from None
    pos, emb, what = inp.ms_cache[key]
    return ms_distribution(enc, emb, what, pos)


METRIC = Metric(
    name="monosemanticity", compute=_compute, suites=("vision", "text"), inputs=("rows", "embedding"),
    counts="samples", order=40, reference="Pach et al. 2025 (ms_*); ms_centred_*: saekit's own",
    columns=(Column("MS (Pach, raw) mean", ("ms_mean",)), Column("MS centred mean", ("ms_centred_mean",)),
             Column("mean pair cosine", ("mean_pair_cosine",))))
