"""Does the Monosemanticity Score separate latents on the quickstart? The paper's raw cosines vs centred ones.

On the quickstart SAE (DINOv2 ViT-S/14, blocks.10, clipart): embeds a seeded subset of the store's images
with the encoder naming chooses (saekit.analysis.monosemanticity.embedding: for this SAE the model's final CLS on the
reloaded images), takes each image's activation of each latent as naming does (its maximum over the
image's tokens), and scores every latent twice: with the paper's raw cosines and with cosines of
embeddings centred on the subset's mean (saekit's ms_centred variant). For each score it reports

  spread                     p10 / p50 / p90 / std over the latents that fire on the subset
  spearman_vs_name_score     rank correlation with the naming score of names.json (cosine of the chosen word
                             to the latent's top-images query)
  spearman_vs_label_purity   rank correlation with an objective check: the fraction of the latent's top
                             `--top` images that share their most common class label (top images by the
                             same per-image activation the score uses)
  baselines                  the same score for the raw neurons of the hook (each image's mean per
                             dimension) and for the SAE's latents with the image assignment shuffled
                             (activations of one image paired with another image's embedding)

plus the mean cosine of a random pair of images under each embedding. Prints ONE JSON line.

    PYTHONPATH=. python experiments/mono_quickstart.py --run runs/quickstart --out /tmp/mono_qs
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
    q = np.quantile(x, [0.1, 0.5, 0.9])
    return {"n": int(x.size), "p10": round(float(q[0]), 4), "p50": round(float(q[1]), 4),
            "p90": round(float(q[2]), 4), "std": round(float(x.std()), 4)}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    return round(float(spearmanr(a[ok], b[ok]).statistic), 4)


def label_purity(acts_NL: np.ndarray, labels_N: np.ndarray, top: int) -> np.ndarray:
    """Per latent: the share of its `top` most activating images (among those where it fires) that carry
    their most common label; NaN for latents that fire on fewer than `top` images."""
    out = np.full(acts_NL.shape[1], np.nan)
    order = np.argsort(-acts_NL, axis=0, kind="stable")[:top]
    fires = (acts_NL > 0).sum(0) >= top
    for j in np.flatnonzero(fires):
        _, counts = np.unique(labels_N[order[:, j]], return_counts=True)
        out[j] = counts.max() / top
    return out


def per_image(store, hook: str, ids: np.ndarray, reduce: str, encode=None) -> np.ndarray:
    """[len(ids), D]: each image's mean or max over its tokens of the hook's rows (or of encode(rows))."""
    import torch

    from saekit.analysis.summaries.streaming import iter_whole_samples

    pos = {int(s): i for i, s in enumerate(ids)}
    out = None
    for acts, sid, _ in iter_whole_samples(store, hook, 16384):
        keep = np.isin(sid, ids)
        if not keep.any():
            continue
        a, s = acts[keep], sid[keep]
        if encode is not None:
            with torch.no_grad():
                a = encode(torch.from_numpy(a)).float().numpy()
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        if reduce == "max":
            red = np.maximum.reduceat(a, starts, axis=0)
        else:
            red = np.add.reduceat(a, starts, axis=0) / np.diff(np.r_[starts, len(s)])[:, None]
        if out is None:
            out = np.zeros((len(ids), a.shape[1]), np.float32)
        out[[pos[int(x)] for x in s[starts]]] = red
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/quickstart", help="quickstart output (store.h5, sae/, names/)")
    p.add_argument("--out", default="/tmp/saekit_mono_quickstart", help="where the image embeddings are cached")
    p.add_argument("--mono-max-samples", type=int, default=1024)
    p.add_argument("--top", type=int, default=16, help="top images per latent for the label purity")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from saekit.analysis.monosemanticity.embedding import choose_mono_embedding, store_dataset
    from saekit.analysis.monosemanticity.score import centred_embeddings, monosemanticity_score
    from saekit.sae import load_sae, SAE
    from stores import ActivationStore

    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sae = load_sae(run / "sae", device="cpu")
    hook = sae.cfg.hook
    names = json.loads((run / "names" / "names.json").read_text())
    cache = out / f"emb_{args.mono_max_samples}_{args.seed}.npz"
    with ActivationStore.open(run / "store.h5") as store:
        if cache.is_file():
            z = np.load(cache)
            ids, emb, source = z["ids"], z["emb"], str(z["source"])
        else:
            me = choose_mono_embedding(store, hook, modality="image", dataset=store_dataset(store),
                                       max_samples=args.mono_max_samples, seed=args.seed)
            ids, emb, source = me.sample_ids, me.emb, me.source
            np.savez(cache, ids=ids, emb=emb, source=source)
        t_embed = time.perf_counter() - t0
        labels = np.array([str(store.samples[int(i)].get("label", "")) for i in ids])
        z_NL = per_image(store, hook, ids, "mean", encode=sae.encode)  # as saekit scores (mono_embedding)
        zmax_NL = per_image(store, hook, ids, "max", encode=sae.encode)  # what naming used before
        raw_ND = per_image(store, hook, ids, "mean")
    rng = np.random.default_rng(args.seed)
    shuffled = z_NL[rng.permutation(len(ids))]
    name_score = np.full(z_NL.shape[1], np.nan)
    for e in names["latents"]:
        name_score[e["latent"]] = e["score"]
    purity = label_purity(z_NL, labels, args.top)
    prior = float(np.unique(labels, return_counts=True)[1].max() / len(labels))
    pairs = rng.integers(0, len(ids), size=(20000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]

    result = {"bench": "mono_quickstart", "run": str(run), "hook": hook, "n_images": int(len(ids)),
              "embedding": source, "n_latents": int(z_NL.shape[1]), "top_for_purity": args.top,
              "label_purity_chance": round(prior, 4), "label_purity_median": round(float(np.nanmedian(purity)), 4)}
    purity_max = label_purity(zmax_NL, labels, args.top)
    for kind, e in (("paper_raw_cosine", emb), ("centred", centred_embeddings(emb))):
        u = e / np.linalg.norm(e, axis=1, keepdims=True)
        ms = monosemanticity_score(z_NL, e)
        ms_max = monosemanticity_score(zmax_NL, e)
        result[kind] = {
            "random_pair_cosine": round(float((u[pairs[:, 0]] * u[pairs[:, 1]]).sum(1).mean()), 4),
            "sae": spread(ms), "spearman_vs_name_score": spearman(ms, name_score),
            "spearman_vs_label_purity": spearman(ms, purity),
            "raw_neurons": spread(monosemanticity_score(raw_ND, e)),
            "shuffled_images": spread(monosemanticity_score(shuffled, e)),
            "max_pooled": {"sae": spread(ms_max), "spearman_vs_name_score": spearman(ms_max, name_score),
                           "spearman_vs_label_purity": spearman(ms_max, purity_max)}}
    result["seconds"] = {"embed": round(t_embed, 1), "total": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
