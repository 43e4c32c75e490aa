"""Reconstruction metrics of an SAE on one split of a store (the core suite as a flat dict).

Held-out rows by default (see saekit.eval.rows for the split rules); the metric conventions are in
saekit.eval.core. ``result["split"]`` says which rows were used.
"""
from __future__ import annotations


from saekit.common.jsontypes import JSONObject
from saekit.eval.core import core_metrics
from saekit.eval.encode import encode_rows
from saekit.eval.rows import load_rows, resolve_split
from saekit.sae import SAE
from saekit.train.data import BatchSource


def evaluate(sae: SAE, source: BatchSource | str, hook: str | None = None, max_rows: int | None = None,
             batch_size: int = 4096, split: str = "auto", holdout: float | None = None) -> JSONObject:
    """Core metrics of `sae` on `split` of `hook` (default: the SAE's hook), at most max_rows rows."""
    if isinstance(source, str):
        from saekit.train.data import open_source

        source = open_source(source)
    rows = load_rows(source, hook or sae.cfg.hook, resolve_split(sae, split, holdout), max_rows)
    enc = encode_rows(sae, rows, batch_size)
    return {"hook": rows.hook, "arch": sae.cfg.arch, "d_in": sae.cfg.d_in, "d_sae": sae.cfg.d_sae,
            "split": rows.split.to_dict(), **core_metrics(enc, rows.n_rows, sae.cfg.d_in)}
