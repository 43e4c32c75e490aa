"""Does the Monosemanticity Score separate latents? The quickstart SAE, old embedding vs new.

Names the quickstart SAE's latents (`run_naming`, which computes the Monosemanticity Score with the
embedding saekit.analysis.mono_embedding chooses: for DINOv2 at block 10, the model's final CLS on the
reloaded images), then computes the score again on the same samples with the old, circular embedding
(the text-space map of the SAE's own hook, pooled). Reports each score's spread over the named
latents and its Spearman correlation with the naming score (cosine of the chosen word to the latent's
top-images query: how well one word says what the top images share). Prints ONE JSON line.

    PYTHONPATH=. python experiments/mono_quickstart.py --run /work/runs/quickstart --out /tmp/mono_qs
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np


def spread(x: np.ndarray) -> dict[str, float]:
    x = x[np.isfinite(x)]
    q = np.quantile(x, [0.0, 0.1, 0.5, 0.9, 1.0])
    return {"n": int(x.size), "min": float(q[0]), "p10": float(q[1]), "median": float(q[2]), "p90": float(q[3]),
            "max": float(q[4]), "std": float(x.std())}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    ra = np.argsort(np.argsort(a[ok])).astype(float)
    rb = np.argsort(np.argsort(b[ok])).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="/work/runs/quickstart", help="quickstart output (store.h5, sae/, align/)")
    p.add_argument("--out", default="/tmp/saekit_mono_quickstart")
    p.add_argument("--mono-max-samples", type=int, default=1024)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from saekit.analysis.alignment import load_text_space, pooled_features
    from saekit.analysis.mono_embedding import sample_subset
    from saekit.analysis.monosemanticity import MonosemanticityAccumulator
    from saekit.analysis.naming import NamingOptions, run_naming
    from saekit.analysis.summaries.streaming import sample_max_batches
    from saekit.sae import SAE
    from stores import ActivationStore

    run = Path(args.run)
    t0 = time.perf_counter()
    sae = SAE.load(run / "sae", device="cpu")
    with ActivationStore.open(run / "store.h5") as store:
        doc = run_naming(sae, store, args.out, text_space=str(run / "align"),
                         cfg=NamingOptions(mono_max_samples=args.mono_max_samples))
        doc = doc.to_json() if hasattr(doc, "to_json") else doc
        t_naming = time.perf_counter() - t0
        # the old embedding, on the same samples: the text-space map of the SAE's own (pooled) input
        space = load_text_space(str(run / "align"))
        ids, feats = pooled_features(store, space.feature_hook, space.pooling)
        subset = sample_subset(np.asarray(store.sample_ids), args.mono_max_samples, seed=0)  # as naming drew it
        keep = np.isin(ids, subset)
        old_ids, old_emb = ids[keep], space.image_to_text(feats[keep])
        order = np.argsort(old_ids)
        acc = MonosemanticityAccumulator(sae.cfg.d_sae, old_emb.shape[1])
        for sid, smax in sample_max_batches(sae, store, sae.cfg.hook):
            m = np.isin(sid, old_ids)
            acc.update(smax.cpu().numpy()[m], old_emb[order[np.searchsorted(old_ids, sid[m], sorter=order)]])
        old = acc.result()
    lat = np.array([e["latent"] for e in doc["latents"]])
    new = np.array([np.nan if e["mono_score"] is None else e["mono_score"] for e in doc["latents"]])
    name_score = np.array([e["score"] for e in doc["latents"]])
    print(json.dumps({
        "bench": "mono_quickstart", "run": str(run), "hook": sae.cfg.hook, "n_named": int(len(lat)),
        "mono_samples": args.mono_max_samples,
        "new": {"embedding": doc["mono_embedding"], "spread": spread(new), "spearman_vs_name_score": spearman(new, name_score)},
        "old": {"embedding": f"text space ({space.kind}) of {space.pooling}-pooled {space.feature_hook} (the SAE's input)",
                "spread": spread(old[lat]), "spearman_vs_name_score": spearman(old[lat], name_score)},
        "spearman_new_vs_old": spearman(new, old[lat]),
        "seconds": {"naming": round(t_naming, 1), "total": round(time.perf_counter() - t0, 1)},
    }))


if __name__ == "__main__":
    main()
