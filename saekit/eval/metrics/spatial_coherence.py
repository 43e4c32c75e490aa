"""Spatial coherence of patch latents: ViSAEBench's M1 (`m1_morans_i`, saekit.eval.localization) and, beside
it, saekit's own rook top-8 estimator with its shuffled-patch baseline (`morans_i_rook_top8`, saekit.eval.spatial)."""
from __future__ import annotations

from typing import Any

from saekit.eval.localization import SEED, feature_localization
from saekit.eval.registry import Column, Metric, MetricCall
from saekit.eval.spatial import rook_top8_coherence


def _compute(call: MetricCall) -> dict[str, Any]:
    rook = rook_top8_coherence(call.rows, call.enc, seed=call.inp.seed)
    m1 = feature_localization(call.rows, call.enc, seed=SEED + call.inp.seed)
    return {"grid": rook.pop("grid"), "n_samples": int(len(call.enc.sample_ids)), **m1, **rook}


METRIC = Metric(
    name="spatial_coherence", compute=_compute, suites=("vision", "visaebench"), inputs=("rows", "patch_grid"),
    counts="samples", order=30, reference="ViSAEBench 0.1.0 M1 (m1_* keys); morans_i_rook_top8: saekit's own",
    columns=(Column("M1 Moran's I", ("m1_morans_i",)), Column("Moran's I rook top-8", ("morans_i_rook_top8",)),
             Column("rook top-8 shuffled", ("rook_top8_shuffled_baseline",))))
