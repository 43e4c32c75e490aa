"""A synthetic first-letter world with known absorption, for the absorption tests.

26 orthonormal letter directions; every word is 2 x its letter's direction plus a random part in
the remaining dimensions. The SAE (ReLU, decoder = encoder direction) has one main latent per
letter. In the test words of the first `n_absorbing` letters, every third word carries its own
"absorber" direction: the absorber latent (decoder = letter + absorber direction) fires on it and,
at full strength, the main latent's encoder (letter minus that letter's absorber directions)
goes silent: full absorption. Absorbers never fire on training words, so k-sparse probing cannot
pick them as split features.
"""
from __future__ import annotations

import string

import numpy as np

D_IN = 96
LETTER_SCALE = 2.0


def letter_world(seed: int = 0, per_letter: int = 36, test_per_letter: int = 8, n_absorbing: int = 10,
                 weak_every: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((D_IN, D_IN)))[0].T
    E, V = basis[:26], basis[26:]
    train, test, x_train, x_test, absorbed = [], [], [], [], []
    n_abs = 0
    for li, letter in enumerate(string.ascii_lowercase):
        for i in range(per_letter):
            word = (" " if i % 2 else "") + letter + "".join(rng.choice(list(string.ascii_lowercase), 5))
            x = LETTER_SCALE * E[li] + 0.6 * rng.standard_normal(V.shape[0]) @ V / np.sqrt(V.shape[0])
            x += 0.05 * rng.standard_normal(D_IN)
            if i < test_per_letter:
                if li < n_absorbing and i % 3 == 0:
                    strength = 1.2 if (n_abs % weak_every == 1) else 2.5  # weak: the main latent still fires
                    absorbed.append((li, n_abs, strength))
                    x = x + strength * V[n_abs]
                    n_abs += 1
                test.append(word)
                x_test.append(x)
            else:
                train.append(word)
                x_train.append(x)
    x_train, x_test = np.array(x_train, np.float32), np.array(x_test, np.float32)
    x_fresh = (x_test + 0.02 * rng.standard_normal(x_test.shape)).astype(np.float32)
    n_fill = 8
    d_sae = 26 + n_abs + n_fill
    W_enc = np.zeros((D_IN, d_sae), np.float32)
    W_dec = np.zeros((d_sae, D_IN), np.float32)
    b_enc = np.zeros(d_sae, np.float32)
    for li in range(26):
        W_enc[:, li] = E[li] - sum(V[j] for l2, j, _ in absorbed if l2 == li)
        W_dec[li] = E[li]
        b_enc[li] = -0.3
    for l2, j, _ in absorbed:
        W_enc[:, 26 + j] = V[j]
        dec = E[l2] + V[j]
        W_dec[26 + j] = dec / np.linalg.norm(dec)
        b_enc[26 + j] = -1.0
    F = rng.standard_normal((n_fill, D_IN))
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    W_enc[:, 26 + n_abs:] = F.T
    W_dec[26 + n_abs:] = F
    b_enc[26 + n_abs:] = -0.5
    return {"train": train, "test": test, "x_train": x_train, "x_test": x_test, "x_fresh": x_fresh,
            "W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": np.zeros(D_IN, np.float32),
            "absorbed": absorbed}
