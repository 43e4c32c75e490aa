"""Every architecture recovers a planted dictionary (>= 90% of atoms at cosine >= 0.9)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from saekit.sae import load_sae, SAE
from saekit.train import ArraySource, TrainConfig, train


def planted(n: int = 60000, d: int = 64, m: int = 128, active: int = 4, noise: float = 0.01, seed: int = 0,
            offset: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(X [n, d] float32, atoms [m, d]): each row = sum of `active` distinct atoms with U(0.5, 2) weights,
    plus Gaussian noise and a constant offset (so the b_dec init matters)."""
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((m, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, m)), axis=1)[:, :active]
    coef = rng.uniform(0.5, 2.0, (n, active))
    X = (coef[:, :, None] * atoms[idx]).sum(1) + noise * rng.standard_normal((n, d)) + offset
    return X.astype(np.float32), atoms


def recovered_fraction(W_dec: np.ndarray, atoms: np.ndarray, threshold: float = 0.9) -> float:
    W = W_dec / np.linalg.norm(W_dec, axis=1, keepdims=True)
    return float(((atoms @ W.T).max(axis=1) >= threshold).mean())


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread avoids oversubscription on the shared cores
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data():
    return planted()


CASES = {
    "topk": dict(k=4),
    "batchtopk": dict(k=4),
    "matryoshka": dict(k=4, matryoshka_prefixes=(128, 256)),
    "relu": dict(l1=0.3),
    "jumprelu": dict(l0_coeff=0.01),
}


@pytest.mark.parametrize("arch", list(CASES))
def test_recovers_planted_dictionary(arch, data, tmp_path):
    X, atoms = data
    cfg = TrainConfig(hook="h", arch=arch, tokens=300_000, out=str(tmp_path / arch), d_sae=256, batch_size=512,
                      lr=4e-3, progress=False, checkpoint_every_s=1e9, seed=0, **CASES[arch])
    sae = train(cfg, ArraySource({"h": X}))
    frac = recovered_fraction(sae.W_dec.detach().numpy(), atoms)
    assert frac >= 0.9, f"{arch} recovered only {frac:.2%} of the planted atoms"
    # the checkpoint on disk is the same SAE and loads without the trainer
    loaded = load_sae(tmp_path / arch)
    x = torch.from_numpy(X[:256])
    assert torch.allclose(loaded(x), sae(x), atol=1e-5)
    assert np.isclose(np.linalg.norm(loaded.W_dec.detach().numpy(), axis=1), 1, atol=1e-4).all()


def test_untrained_sae_recovers_nothing(data):
    """The recovery measure can fail: a random dictionary matches almost no atom."""
    _, atoms = data
    rng = np.random.default_rng(1)
    assert recovered_fraction(rng.standard_normal((256, 64)), atoms) < 0.05
