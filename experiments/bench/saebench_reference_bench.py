"""saekit's SAEBench / SAELens figures beside the reference code's own, on the same real inputs.

  core        the LM SAE's held-out rows: saekit's core metrics; SAELens' run_evals (sparsity,
              variance, norms, densities) over the same activations (tests/peers/saelens_core.py acts)
  absorption  SAEBench's first-letter absorption on the LM SAE's model: saekit's; SAEBench's own
              probe, k-sparse probing, calculator and aggregation on the same word activations and the
              SAE exported to SAELens (tests/peers/saebench_absorption.py)
  sparse      sparse probing on a labelled store (the quickstart): saekit's; SAEBench's
              train_probe_on_activations on the same class sets (tests/peers/saebench_sparse_probing.py)
  downstream  SAELens' CE loss score and saekit's kept-token variant on held-out dataset samples
              (saekit only: its equality with SAELens is tests/test_core_saelens.py's, on a tiny GPT-2)
Prints one JSON line: per figure [saekit, reference].

    .venv/bin/python experiments/bench/saebench_reference_bench.py --sae SAE --store S --model offline:smollm2-135m \
        --data bundled:austen --probe-run runs/quickstart --work /tmp/saebench_bench
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def reference(script: str, *args: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "JAXTYPING_DISABLE": "1"}
    env.pop("PYTHONPATH", None)
    py = os.environ.get("SAEKIT_PEERS_PYTHON", str(REPO / ".venv-peers" / "bin" / "python"))
    proc = subprocess.run([py, str(REPO / "tests" / "peers" / script), *args], capture_output=True, text=True,
                          env=env, cwd=REPO)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads((Path(args[0]) / "reference.json").read_text())


def pair(a: float, b: float) -> list[float]:
    return [float(a), float(b)]


def core(sae, rows, enc, work: Path) -> dict:
    from saekit.eval.core import core_metrics
    from saekit.sae.formats import export_sae

    mine = core_metrics(enc, rows.n_rows, sae.cfg.d_in)
    export_sae(sae, "saelens", work / "sae")
    np.save(work / "acts.npy", rows.acts.astype(np.float32))
    ref = reference("saelens_core.py", str(work), "acts")
    return {"l0": pair(mine["l0"], ref["l0"]), "fve": pair(mine["fve"], ref["explained_variance"]),
            "fve_per_token": pair(mine["fve_per_token"], ref["explained_variance_legacy"]),
            "cosine": pair(mine["cosine"], ref["cossim"]), "l2_ratio": pair(mine["l2_ratio"], ref["l2_ratio"]),
            "mse_x_d_in": pair(mine["mse"] * sae.cfg.d_in, ref["mse"]),
            "dead_frac": pair(mine["dead_frac"], ref["dead_frac"]), "n_rows": rows.n_rows}


def word_activations(model: str, hook: str, n_words: int, cache: Path) -> dict:
    """The absorption task's words and activations, kept in `cache` (the forward passes dominate the bench)."""
    from saekit.eval.absorption.run import absorption_activations

    key = cache / f"words_{model.replace(':', '_')}_{hook}_{n_words}.npz"
    if key.exists():
        z = np.load(key)
        return {"train": z["train"].tolist(), "test": z["test"].tolist(),
                **{k: z[k] for k in ("x_train", "x_test", "x_fresh")}}
    data = dataclasses.asdict(absorption_activations(model, hook, "cpu", n_words, 0))
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(key, **{k: np.asarray(v) for k, v in data.items()})
    return data


def absorption(sae, model: str, n_words: int, min_letters: int, work: Path, cache: Path) -> dict:
    from saekit.eval.absorption import AbsorptionSettings, first_letter_absorption
    from saekit.sae.formats import export_sae

    data = word_activations(model, sae.cfg.hook, n_words, cache)
    mine = first_letter_absorption(data["x_train"], data["train"], data["x_test"], data["test"], data["x_fresh"],
                                   sae, seed=0, settings=AbsorptionSettings(min_letters=min_letters))
    export_sae(sae, "saelens", work / "sae")
    np.savez(work / "inputs.npz", seed=np.int64(0), x_train=data["x_train"], x_test=data["x_test"],
             x_fresh=data["x_fresh"])
    (work / "words.json").write_text(json.dumps({"train": data["train"], "test": data["test"]}))
    ref = reference("saebench_absorption.py", str(work))["means"]
    keys = ("mean_absorption_fraction_score", "mean_full_absorption_score", "mean_num_split_features", "n_letters")
    return {**{k: pair(mine[k], ref[k]) for k in keys}, "n_words": len(data["train"]) + len(data["test"]),
            "probe_f1_mean": mine["probe_f1_mean"], "min_letters": min_letters}


def sparse(run: Path, work: Path, ks: tuple[int, ...]) -> dict:
    import torch

    from saekit.eval.encode import encode_rows
    from saekit.eval.probing import sparse_probing
    from saekit.eval.rows import load_rows, resolve_split
    from saekit.eval.saebench_probing import balanceable, class_sets, split_classes
    from saekit.sae import load_sae, SAE
    from saekit.train.data import open_source

    sae = load_sae(str(run / "sae"))
    rows = load_rows(open_source(str(run / "store.h5")), sae.cfg.hook, resolve_split(sae, "auto", None), None)
    enc = encode_rows(sae, rows)
    labels = np.array([rows.labels.get(int(s), "") for s in enc.sample_ids], dtype=object).astype(str)
    mine = sparse_probing(enc.pooled_z, enc.pooled_x, list(labels), ks=ks)
    classes = [p["class"] for p in mine["per_class"]]
    split = split_classes(labels, sorted(set(labels) & set(classes)), 0)
    split = {c: split[c] for c in balanceable(*[{c: ix[j] for c, ix in split.items()} for j in (0, 1)])}
    z_train, z_test = class_sets(enc.pooled_z, split)
    x_train, x_test = class_sets(enc.pooled_x, split)
    torch.save({"z_train": z_train, "z_test": z_test, "x_train": x_train, "x_test": x_test, "ks": list(ks),
                "seed": 0}, work / "sets.pt")
    ref = reference("saebench_sparse_probing.py", str(work))
    out = {f"sae_top_{k}_test_accuracy": pair(mine["acc"][str(k)], np.mean(list(ref["acc"][str(k)].values())))
           for k in ks}
    out.update({f"llm_top_{k}_test_accuracy": pair(mine["raw_acc_top"][str(k)],
                                                   np.mean(list(ref["raw_acc_top"][str(k)].values()))) for k in ks})
    out["llm_test_accuracy"] = pair(mine["raw_acc"], np.mean(list(ref["raw_acc"].values())))
    return {**out, "n_classes": mine["n_classes"], "n_samples": mine["n_samples"]}


def downstream(sae, model_spec: str, data: str, split: dict, n: int) -> dict:
    from saekit.data import load_dataset
    from saekit.eval.downstream import evaluate_downstream, split_samples
    from saekit.models import load_model

    res = evaluate_downstream(sae, load_model(model_spec, "cpu"), split_samples(load_dataset(data), split, n),
                              batch_size=8)
    keys = ("ce_clean", "ce_sae", "ce_zero_ablation", "ce_loss_score", "kl_div_score", "ce_loss_recovered_kept_tokens",
            "n_tokens")
    return {k: res[k] for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sae", required=True, help="a language-model SAE (checkpoint directory)")
    p.add_argument("--store", required=True, help="its activation store")
    p.add_argument("--model", default="offline:smollm2-135m")
    p.add_argument("--data", default="bundled:austen", help="dataset for the downstream splice")
    p.add_argument("--n-words", type=int, default=2000)
    p.add_argument("--min-letters", type=int, default=20, help="SAEBench's minimum of well-probed letters")
    p.add_argument("--downstream-samples", type=int, default=32)
    p.add_argument("--probe-run", default="runs/quickstart", help="a run with a labelled store.h5 and sae/")
    p.add_argument("--work", default="/tmp/saebench_reference_bench")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from saekit.eval.encode import encode_rows
    from saekit.eval.rows import load_rows, resolve_split
    from saekit.sae import load_sae, SAE
    from saekit.train.data import open_source

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    for sub in ("core", "absorption", "sparse"):  # fresh (the SAE exports refuse a non-empty folder); cache/ stays
        shutil.rmtree(work / sub, ignore_errors=True)
        (work / sub).mkdir(parents=True)
    sae = load_sae(args.sae)
    rows = load_rows(open_source(args.store), sae.cfg.hook, resolve_split(sae, "auto", None), None)
    timing, out = {}, {"sae": args.sae, "split": rows.split.to_dict()}
    for name, fn in (("core", lambda: core(sae, rows, encode_rows(sae, rows), work / "core")),
                     ("absorption", lambda: absorption(sae, args.model, args.n_words, args.min_letters,
                                                       work / "absorption", work / "cache")),
                     ("sparse_probing", lambda: sparse(Path(args.probe_run), work / "sparse", (1, 2, 5))),
                     ("downstream", lambda: downstream(sae, args.model, args.data, rows.split.to_dict(),
                                                       args.downstream_samples))):
        t = time.perf_counter()
        out[name] = fn()
        timing[name] = round(time.perf_counter() - t, 1)
    print(json.dumps({**out, "timing_s": timing}))


if __name__ == "__main__":
    main()
