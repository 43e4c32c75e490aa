"""saekit's reference-named vision metrics next to the reference's own code, on a finished quickstart run.

On the held-out images of the run's store, with the run's SAE: saekit's M1 (spatial_coherence.m1_morans_i),
M3 (downstream_preservation) and Monosemanticity Score (ms, raw cosines), and ViSAEBench 0.1.0's own
FeatureLocalization, DownstreamPreservation and MonosemanticityScore code (top-k = every image) run in
the peer venv (tests/peers/visaebench_peer.py) on the same codes, activations, reconstructions, labels
and embeddings. Prints one JSON line: each metric's value by saekit and by the reference, and the
difference. Needs the peer venv (`make peers`).

    .venv/bin/python experiments/visaebench_quickstart.py [--run runs/quickstart] [--out /tmp/vq]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PEER = REPO / "tests" / "peers" / "visaebench_peer.py"


def run_peer(cmd: str, tmp: Path, **arrays: np.ndarray) -> dict:
    src, out = tmp / f"{cmd}.npz", tmp / f"{cmd}.json"
    np.savez(src, **arrays)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    py = os.environ.get("SAEKIT_PEERS_PYTHON", str(REPO / ".venv-peers" / "bin" / "python"))
    subprocess.run([py, str(PEER), cmd, str(src), str(out)], check=True, env={**env, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/quickstart")
    p.add_argument("--out", default=None, help="directory for the exchanged arrays (default: a temporary one)")
    args = p.parse_args()

    import torch

    from saekit.analysis.monosemanticity.score import monosemanticity_score
    from saekit.eval.encode import encode_rows
    from saekit.eval.localization import feature_localization, image_grid
    from saekit.eval.ms import chosen_embeddings, ms_distribution
    from saekit.eval.preservation import visaebench_preservation
    from saekit.eval.rows import load_rows, resolve_split
    from saekit.sae import load_sae, SAE
    from saekit.train.data import open_source

    run = Path(args.run)
    sae = load_sae(str(run / "sae"), device="cpu")
    source = open_source(str(run / "store.h5"))
    rows = load_rows(source, sae.cfg.hook, resolve_split(sae, "auto", None), 500_000, 20_000)
    enc = encode_rows(sae, rows)
    tmp = Path(args.out or tempfile.mkdtemp(prefix="visaebench_quickstart_"))
    tmp.mkdir(parents=True, exist_ok=True)
    out: dict = {"run": str(run), "split": rows.split.name, "n_images": int(len(enc.sample_ids)), "n_rows": rows.n_rows}

    # M1: the same codes, image by image, patch by patch
    grid = image_grid(rows, enc)
    gh, gw = grid.gh, grid.gw
    assert grid.n_incomplete == 0, "every held-out image has all its patch rows"
    pre = int(rows.attrs.get("n_prefix_tokens", 0))
    patch_rows = np.flatnonzero((rows.position >= pre) & (rows.position < pre + gh * gw))
    order = patch_rows[np.lexsort((rows.position[patch_rows], enc.row_sample[patch_rows]))]
    m1 = feature_localization(rows, enc)
    ref = run_peer("m1", tmp, idx=enc.idx[order], val=enc.val[order], d_sae=np.array(enc.d_sae),
                   grid=np.array([gh, gw]))
    out["m1"] = {"saekit": m1["m1_morans_i"], "visaebench": ref["value"], "diff": m1["m1_morans_i"] - ref["value"],
                 "n_latents_scored": m1["m1_n_latents_scored"], "n_evaluable": ref["n_evaluable"]}

    # M3: the same activations and the SAE's reconstruction of every row, the same labels
    labels = [rows.labels.get(int(s), "") for s in enc.sample_ids]
    x = rows.acts[order].reshape(len(enc.sample_ids), gh * gw, -1).astype(np.float32)
    with torch.no_grad():
        t = torch.from_numpy(rows.acts[order])
        x_hat = sae.decode(sae.encode(t), x=t).float().numpy().reshape(x.shape)
    keep = np.array([bool(lab) for lab in labels])
    classes, y = np.unique(np.asarray(labels)[keep], return_inverse=True)
    m3 = visaebench_preservation(enc.pooled_x, enc.pooled_xhat, labels)
    ref = run_peer("m3", tmp, acts=x[keep], x_hat=x_hat[keep], labels=y)
    out["m3"] = {k: {"saekit": m3[k], "visaebench": ref[k], "diff": m3[k] - ref[k]}
                 for k in ("accuracy_original", "accuracy_reconstructed", "accuracy_gap")}
    out["m3"]["preservation_ratio"] = {"saekit": m3["preservation_ratio"], "visaebench": ref["value"],
                                       "diff": m3["preservation_ratio"] - ref["value"]}

    # MS: the chosen independent embedding and the pooled codes of the same images
    pos, emb, what = chosen_embeddings(rows, enc, source, "cpu", 1024, 0)
    ms = ms_distribution(enc, emb, what, pos)
    ref = run_peer("m5", tmp, acts=enc.pooled_z[pos][:, None, :].astype(np.float32), emb=emb.astype(np.float32))
    per_latent = monosemanticity_score(enc.pooled_z[pos], emb)
    ours = float(np.nanmean(per_latent))
    out["ms"] = {"embeddings": what, "n_images": int(len(pos)), "saekit_ms_mean": ms["ms_mean"],
                 "saekit_all_defined": ours, "visaebench_m5_all_images": ref["value"], "diff": ours - ref["value"],
                 "ms_centred_mean": ms["ms_centred_mean"], "mean_pair_cosine": ms["mean_pair_cosine"]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
