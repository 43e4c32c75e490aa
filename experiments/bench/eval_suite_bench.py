"""How long the full vision evaluation suite takes on the quickstart SAE (target: under 3 minutes on 2 cores).

Runs `saekit eval --suite vision` as the library call on a finished quickstart directory (store.h5 +
sae/): core metrics, sparse probing (k = 1..20 and the raw baseline), downstream preservation,
spatial coherence, the Monosemanticity Score against the captions' MiniLM embeddings (an encoder
other than the SAE's input), stability against a second SAE when --reference is given, and the
autointerp column. An SAE that records no held-out split is evaluated on the 10% split a default
training run would have held out (the result says so). Prints one JSON line.

    .venv/bin/python experiments/bench/eval_suite_bench.py [--run runs/quickstart] [--reference SAE_DIR]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/quickstart", help="quickstart output directory")
    p.add_argument("--suite", default="vision")
    p.add_argument("--reference", default=None, help="second SAE for the stability metric")
    p.add_argument("--ms-embeddings", default="text")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from saekit.eval import EvalConfig, run_eval
    from saekit.sae import load_sae, SAE

    torch.set_num_threads(args.threads)
    run = Path(args.run)
    sae_dir, store = run / "sae", run / "store.h5"
    recorded = load_sae(str(sae_dir)).cfg.holdout
    t0 = time.perf_counter()
    res = run_eval(EvalConfig(sae=str(sae_dir), store=str(store), suite=args.suite, device="cpu",
                              holdout=None if recorded else 0.1, reference_sae=args.reference,
                              ms_embeddings=args.ms_embeddings, names=str(run / "names")))
    total = time.perf_counter() - t0
    m = res["metrics"]

    def pick(name: str, *keys: str):
        v = m.get(name, {})
        if "skipped" in v:
            return {"skipped": v["skipped"]}
        for k in keys:
            v = v.get(k, {}) if isinstance(v, dict) else {}
        return v if v != {} else None

    print(json.dumps({
        "bench": "eval_suite", "suite": args.suite, "run": str(run), "cpu_threads": args.threads,
        "cpu_count": os.cpu_count(), "split": res["split"], "n_rows": m["core"]["n_rows"],
        "n_samples": m["core"]["n_samples"], "d_sae": res["d_sae"], "total_s": round(total, 2),
        "within_3_min": total < 180, "timing_s": m["timing_s"],
        "l0": m["core"]["l0"], "fve": m["core"]["fve"], "dead_frac": m["core"]["dead_frac"],
        "probe_acc_k1": pick("sparse_probing", "acc", "1"), "probe_acc_k20": pick("sparse_probing", "acc", "20"),
        "probe_acc_raw": pick("sparse_probing", "raw_acc"),
        "m3_preservation_ratio": pick("downstream_preservation", "preservation_ratio"),
        "m3_accuracy_gap": pick("downstream_preservation", "accuracy_gap"),
        "cv_preserved": pick("downstream_preservation", "cv_preserved"),
        "m1_morans_i": pick("spatial_coherence", "m1_morans_i"),
        "morans_i_rook_top8": pick("spatial_coherence", "morans_i_rook_top8"),
        "rook_top8_shuffled": pick("spatial_coherence", "rook_top8_shuffled_baseline"),
        "ms_mean": pick("monosemanticity", "ms_mean"), "ms_centred_mean": pick("monosemanticity", "ms_centred_mean"),
        "mean_pair_cosine": pick("monosemanticity", "mean_pair_cosine"), "stability": pick("stability", "frac_matched"),
        "autointerp": pick("autointerp", "mean"),
    }))


if __name__ == "__main__":
    main()
