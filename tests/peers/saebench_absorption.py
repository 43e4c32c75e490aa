"""Run with the peer venv's python: SAEBench's own absorption code on the inputs saekit's test wrote.

    python tests/peers/saebench_absorption.py DIR

DIR/inputs.npz: x_train, x_test, x_fresh, W_enc, b_enc, W_dec, b_dec, seed; DIR/words.json:
{"train": [...], "test": [...]}. The SAE is DIR/sae, a SAELens folder: when absent it is built from
the arrays (W_enc, b_enc, W_dec, b_dec) as a StandardSAE and saved there, for saekit to load.
SAEBench's letter probe, k-sparse probes, feature-split rule, absorption calculator and aggregation
run unchanged; the only stand-in is the language model, whose run_with_cache returns the word's
given fresh-prompt activation at the word position. Writes DIR/reference.json.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import sae_lens as sl
import torch

from sae_bench.evals.absorption.feature_absorption import (
    calculate_projection_and_cos_sims,
    get_stats_and_likely_false_negative_tokens,
)
from sae_bench.evals.absorption.feature_absorption_calculator import FeatureAbsorptionCalculator
from sae_bench.evals.absorption.k_sparse_probing import (
    add_feature_splits_to_metrics_df,
    build_metrics_df,
    eval_probe_and_sae_k_sparse_raw_scores,
    get_sparse_probing_raw_results_filename,
    sae_k_sparse_metadata,
    train_k_sparse_probes,
)
from sae_bench.evals.absorption.main import _aggregate_results_df
from sae_bench.evals.absorption.probing import train_linear_probe_for_task
from sae_bench.evals.absorption.prompting import first_letter_formatter
from sae_bench.evals.absorption.vocab import LETTERS

TEMPLATE = "{word} has the first letter:"
LAYER, MAX_K, F1_JUMP, MIN_F1 = 3, 10, 0.03, 0.6


class CachedModel:
    """Stands in for the HookedTransformer: the word's activation at the word position (-6)."""

    def __init__(self, fresh: dict[str, torch.Tensor]):
        self.fresh = fresh
        self.tokenizer = object()

    def to_tokens(self, text: str) -> torch.Tensor:
        return torch.zeros(1, 6, dtype=torch.long)

    def run_with_cache(self, prompts, names_filter):
        tail = TEMPLATE.format(word="")
        rows = []
        for p in prompts:
            word = p.split("\n")[-1][: -len(tail)]
            acts = torch.zeros(6, next(iter(self.fresh.values())).shape[0])
            acts[-6] = self.fresh[word]
            rows.append(acts)
        return None, {names_filter[0]: torch.stack(rows)}


def make_sae(arrays: dict, out: Path):
    from sae_lens.saes.sae import SAEMetadata

    d_in, d_sae = arrays["W_enc"].shape
    sae = sl.StandardSAE(sl.StandardSAEConfig(d_in=d_in, d_sae=d_sae, metadata=SAEMetadata(
        hook_name=f"blocks.{LAYER}.hook_resid_post", model_name="synthetic")))
    with torch.no_grad():
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            getattr(sae, name).copy_(torch.from_numpy(arrays[name]))
    sae.save_model(out)
    return sl.SAE.load_from_disk(str(out))


def main(d: Path) -> None:
    arrays = dict(np.load(d / "inputs.npz"))
    words = json.loads((d / "words.json").read_text())
    seed = int(arrays["seed"])
    sae = sl.SAE.load_from_disk(str(d / "sae")) if (d / "sae").is_dir() else make_sae(arrays, d / "sae")
    train = [(w, LETTERS.index(w.strip()[0].lower())) for w in words["train"]]
    test = [(w, LETTERS.index(w.strip()[0].lower())) for w in words["test"]]
    x_train, x_test = arrays["x_train"].astype(np.float32), arrays["x_test"].astype(np.float32)

    torch.manual_seed(seed)
    probe, _ = train_linear_probe_for_task(
        pd.DataFrame({"answer_class": [c for _, c in train]}), pd.DataFrame({"answer_class": [c for _, c in test]}),
        torch.device("cpu"), x_train, x_test, num_classes=26, batch_size=64, num_epochs=50, lr=1e-2)
    probe = probe.float()
    torch.manual_seed(seed)
    k_probes = train_k_sparse_probes(sae, train, torch.from_numpy(x_train), ks=list(range(1, MAX_K + 1)))
    raw = eval_probe_and_sae_k_sparse_raw_scores(sae, probe, k_probes, test, torch.from_numpy(x_test))
    meta = sae_k_sparse_metadata(sae, probe, k_probes, sae_name="sae", layer=LAYER)
    metrics = build_metrics_df(raw, meta, max_k_value=MAX_K)
    add_feature_splits_to_metrics_df(metrics, max_k_value=MAX_K, f1_jump_threshold=F1_JUMP)
    sp_dir = d / "k_sparse"
    sp_dir.mkdir(exist_ok=True)
    raw.to_parquet(sp_dir / get_sparse_probing_raw_results_filename("sae", LAYER), index=False)
    likely = get_stats_and_likely_false_negative_tokens(metrics, "sae", LAYER, sp_dir)

    fresh = {w: torch.from_numpy(arrays["x_fresh"][i].astype(np.float32)) for i, w in enumerate(words["test"])}
    calc = FeatureAbsorptionCalculator(model=CachedModel(fresh), icl_word_list=words["train"] + words["test"],
                                       max_icl_examples=10, base_template=TEMPLATE,
                                       answer_formatter=first_letter_formatter(), word_token_pos=-6)
    df = calculate_projection_and_cos_sims(calc, sae, probe, layer=LAYER, likely_negs=likely)
    agg = _aggregate_results_df(df)
    f1_probe = dict(zip(metrics["letter"], metrics["f1_probe"]))
    per_letter = {}
    for _, row in agg.iterrows():
        per_letter[row["letter"]] = {
            "f1_probe": float(f1_probe[row["letter"]]), "main_latents": [int(v) for v in row["split_feats"]],
            "num_probe_true_positives": int(row["num_probe_true_positives"]),
            "num_full_absorption": int(row["num_full_absorption"]),
            "full_absorption_rate": float(row["full_absorption_rate"]),
            "mean_absorption_fraction": float(row["mean_absorption_fraction"])}
    kept = [p for p in per_letter.values() if p["f1_probe"] > MIN_F1]
    means = {
        "mean_absorption_fraction_score": statistics.mean(p["mean_absorption_fraction"] for p in kept),
        "mean_full_absorption_score": statistics.mean(p["full_absorption_rate"] for p in kept),
        "mean_num_split_features": statistics.mean(len(p["main_latents"]) for p in kept),
        "n_letters": len(kept)}
    (d / "reference.json").write_text(json.dumps({"means": means, "per_letter": per_letter}, indent=1))
    np.save(d / "probe_weight.npy", probe.weights.detach().numpy())
    print("ok")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(Path(sys.argv[1]))
