"""OUT/names.json with the explanations: a names document (the `saekit name` format, kind "names")
whose latent entries carry an `explanation` block

    {"text", "client", "explained_on": [sample ids],
     "detection": {"balanced_accuracy", "auc", "n_positive", "n_negative",
                   "judged": [{"sample_id", "truth", "answer", "activation", "shown"}]},
     "fuzzing": {... the same ...} or null}

and a top-level `explanations` block (client, settings without the key, token counts). With
--names the vocabulary names of that run are kept and the blocks added; without it each explained
latent gets an entry whose name is its explanation. Written atomically (temp file, then rename)."""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from saekit.atomic import write_json_atomic
from saekit.autointerp.config import ExplainConfig
from saekit.autointerp.runner import TokenCount
from saekit.errors import SaekitError


def explanation_block(rec: dict[str, Any], client: str) -> dict[str, Any]:
    return {"text": rec["explanation"], "client": client, "explained_on": rec.get("explained_on", []),
            "detection": rec.get("detection"), "fuzzing": rec.get("fuzzing")}


def _base_doc(cfg: ExplainConfig, summ: Any, store: Any) -> dict[str, Any]:
    from saekit.analysis.naming import _store_modality

    return {"kind": "names", "format_version": 1,
            "sae": {"path": str(cfg.sae), "fingerprint": summ.sae_fingerprint, "hook": summ.hook,
                    "d_sae": summ.d_sae},
            "store": {"path": str(cfg.store), "fingerprint": summ.store_fingerprint,
                      "modality": _store_modality(store), "n_samples": summ.n_samples},
            "method": "explain", "n_live": int(summ.live.sum()), "notes": [], "latents": []}


def write_names(out: Path, records: dict[int, dict[str, Any]], cfg: ExplainConfig, summ: Any, store: Any,
                client: str, count: TokenCount) -> dict[str, Any]:
    if cfg.names:
        from saekit.jsonfile import read_json_object

        doc = copy.deepcopy(read_json_object(Path(cfg.names) / "names.json", "--names"))
        if doc.get("kind") != "names" or not isinstance(doc.get("latents"), list):
            raise SaekitError(f"--names {cfg.names}: names.json is not a names document")
        if doc.get("sae", {}).get("fingerprint") not in (None, summ.sae_fingerprint):
            raise SaekitError(f"--names {cfg.names} was made for another SAE; name this SAE first")
    else:
        doc = _base_doc(cfg, summ, store)
    by_latent = {int(e["latent"]): e for e in doc["latents"] if isinstance(e, dict) and "latent" in e}
    for lat, rec in sorted(records.items()):
        entry = by_latent.get(lat)
        if entry is None:
            entry = {"latent": lat, "name": rec["explanation"][:80], "score": 0.0, "candidates": [],
                     "mono_score": None, "freq": float(summ.freq[lat]), "sample_freq": float(summ.sample_freq[lat]),
                     "mean_act": float(summ.mean_act[lat]), "max_act": float(summ.max_act[lat]), "top": []}
            doc["latents"].append(entry)
            by_latent[lat] = entry
        entry["explanation"] = explanation_block(rec, client)
    doc["n_named"] = len(doc["latents"])
    doc["explanations"] = {"client": client, "params": cfg.public(), "n_explained": len(records),
                           "tokens": count.as_dict(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json_atomic(out / "names.json", doc)
    return doc
