"""Run with the peer venv's python: SAEBench's own sparse-probing code on the class sets saekit's
test wrote (DIR/sets.pt: {"z_train", "z_test", "x_train", "x_test": {class: tensor}, "ks", "seed"}).

Each call of SAEBench's train_probe_on_activations starts from torch.manual_seed(seed), as saekit's
class_accuracies does. Writes DIR/reference.json: {"acc": {k: {class: acc}}, "raw_acc_top": ..., "raw_acc": ...}.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from sae_bench.evals.sparse_probing.probe_training import train_probe_on_activations


def accuracies(train, test, seed, **kw):
    torch.manual_seed(seed)
    return train_probe_on_activations(train, test, **kw)[1]


def main(d: Path) -> None:
    sets = torch.load(d / "sets.pt")
    seed = sets["seed"]
    out = {"acc": {str(k): accuracies(sets["z_train"], sets["z_test"], seed, select_top_k=k) for k in sets["ks"]},
           "raw_acc_top": {str(k): accuracies(sets["x_train"], sets["x_test"], seed, select_top_k=k)
                           for k in sets["ks"]},
           "raw_acc": accuracies(sets["x_train"], sets["x_test"], seed, select_top_k=None, use_sklearn=False,
                                 batch_size=250, epochs=100, lr=1e-2)}
    (d / "reference.json").write_text(json.dumps(out, indent=1))
    print("ok")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(Path(sys.argv[1]))
