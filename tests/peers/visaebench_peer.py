"""Run with the peer venv's python: ViSAEBench 0.1.0's own metric code on inputs saved by a test.

    python tests/peers/visaebench_peer.py m1 IN.npz OUT.json   # FeatureLocalization (M1), default settings
    python tests/peers/visaebench_peer.py m3 IN.npz OUT.json   # DownstreamPreservation (M3), default settings
    python tests/peers/visaebench_peer.py m5 IN.npz OUT.json   # MonosemanticityScore (M5) with top_k = all images

IN.npz holds ``acts`` [N, P, D] (the SAE here is the identity: its codes are the activations, or a
linear decoder ``W_dec`` [D, d] for M3), and per metric ``grid``, ``labels`` or ``emb`` [N, E].
The package's __init__ imports timm and torchvision (absent here), so the modules are loaded from
bare package shells, with the metric files themselves unchanged.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch


def _shell_packages() -> None:
    """visaebench and visaebench.metrics as empty packages on the installed path (their __init__s pull
    GPU and vision stacks the metrics do not use)."""
    root = Path(importlib.util.find_spec("visaebench").submodule_search_locations[0])
    for name, path in (("visaebench", root), ("visaebench.metrics", root / "metrics")):
        mod = types.ModuleType(name)
        mod.__path__ = [str(path)]
        sys.modules[name] = mod


class LinearSAE(torch.nn.Module):
    """encode = identity (the codes are the given activations); decode = codes @ W_dec."""

    def __init__(self, W_dec: np.ndarray | None = None):
        super().__init__()
        self.W_dec = None if W_dec is None else torch.from_numpy(W_dec).float()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_dec


class FixedEmbedder:
    """An evaluator backbone whose 'images' are indices into fixed embeddings (one patch per image)."""

    def __init__(self, emb: np.ndarray):
        self.emb = torch.from_numpy(emb).float()

    def extract_activations(self, images, layer: int = 11) -> torch.Tensor:
        return self.emb[list(images)][:, None, :]


def m1(data) -> dict:
    from visaebench.metrics.spatial_coherence.localization import FeatureLocalization

    grid = tuple(int(g) for g in data["grid"])
    res = FeatureLocalization(grid_size=grid).compute(LinearSAE(), torch.from_numpy(data["acts"]), device="cpu")
    md = res.metadata
    return {"value": res.value, "per_feature": md["per_feature_scores"], "scored": md["scored_feature_indices"],
            "median": md["median_morans_i"], "n_evaluable": md["num_evaluable_features"]}


def m3(data) -> dict:
    from visaebench.metrics.reconstruction.downstream import DownstreamPreservation

    res = DownstreamPreservation().compute(LinearSAE(data["W_dec"]), torch.from_numpy(data["acts"]), device="cpu",
                                           labels=data["labels"])
    return {"value": res.value, **res.metadata}


def m5(data) -> dict:
    from visaebench.metrics.concept_detection.monosemanticity import MonosemanticityScore

    acts = torch.from_numpy(data["acts"])
    n = acts.shape[0]
    metric = MonosemanticityScore(top_k_images=n, max_features=acts.shape[-1])
    res = metric.compute(LinearSAE(), acts, device="cpu", images=list(range(n)),
                         evaluator_backbone=FixedEmbedder(data["emb"]))
    return {"value": res.value, "distribution": res.metadata["ms_distribution"]}


def main() -> None:
    _shell_packages()
    cmd, src, out = sys.argv[1:4]
    data = dict(np.load(src))
    result = {"m1": m1, "m3": m3, "m5": m5}[cmd](data)
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
