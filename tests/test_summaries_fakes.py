"""Shared fakes (no tests here): tiny in-memory stand-ins for a store and an SAE following docs/architecture.md, for the
analysis tests (so they test the analyses, not capture or training)."""
from __future__ import annotations

import numpy as np
import torch


class ArrayStore:
    """The read side of stores.ActivationStore over in-memory arrays, rows of a sample contiguous."""

    def __init__(self, hook: str, acts: np.ndarray, sample_id: np.ndarray, position: np.ndarray,
                 samples: dict[int, dict] | None = None, attrs: dict | None = None):
        self.hook = hook
        self.acts = np.asarray(acts, dtype=np.float32)
        self.sample_id = np.asarray(sample_id, dtype=np.int64)
        self.position = np.asarray(position, dtype=np.int32)
        ids = list(dict.fromkeys(self.sample_id.tolist()))
        self.samples = samples if samples is not None else {i: {"source": f"s{i}", "label": "", "text": ""} for i in ids}
        self.sample_ids = np.array(ids, dtype=np.int64)
        self.attrs = attrs or {"model_id": "fake", "config_hash": "x"}
        self.complete = True

    @property
    def hooks(self):
        return {self.hook: self.acts.shape[1]}

    @property
    def n_samples(self):
        return len(self.sample_ids)

    @property
    def dtype(self):
        return "float32"

    def d(self, hook):
        return self.acts.shape[1]

    def n_rows(self, hook):
        return self.acts.shape[0]

    def read_rows(self, hook, start, stop):
        return self.acts[start:stop]

    def rows_for_sample(self, hook, sample_id):
        m = self.sample_id == sample_id
        return self.acts[m], self.position[m]

    def iter_batches(self, hook, batch_size, shuffle=False, seed=0, epoch=0, rank=0, world_size=1,
                     buffer_rows=None, drop_last=False, with_index=False):
        assert not shuffle
        for s in range(0, len(self.acts), batch_size):
            e = min(len(self.acts), s + batch_size)
            if with_index:
                yield self.acts[s:e], self.sample_id[s:e], self.position[s:e]
            else:
                yield self.acts[s:e]


class LinearReluSAE(torch.nn.Module):
    """z = relu((x - b_dec) @ W_enc + b_enc); x_hat = z @ W_dec + b_dec."""

    def __init__(self, W_enc: torch.Tensor, W_dec: torch.Tensor, b_enc=None, b_dec=None, hook: str = "h"):
        super().__init__()
        d_in, d_sae = W_enc.shape
        self.W_enc = torch.nn.Parameter(W_enc.float().clone())
        self.W_dec = torch.nn.Parameter(W_dec.float().clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae) if b_enc is None else b_enc.float().clone())
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in) if b_dec is None else b_dec.float().clone())

        class _Cfg:
            pass

        self.cfg = _Cfg()
        self.cfg.d_in, self.cfg.d_sae, self.cfg.hook, self.cfg.arch = d_in, d_sae, hook, "relu"

    def encode(self, x):
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, z):
        return z @ self.W_dec + self.b_dec

    def forward(self, x):
        return self.decode(self.encode(x))
