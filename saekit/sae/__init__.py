"""Sparse autoencoders: one module per architecture behind one SAE interface.

    from saekit.sae import SAE, load_sae
    sae = load_sae(spec)  # saekit.sae.loader: a checkpoint directory or a foreign SAE
    z = sae.encode(x); x_hat = sae.decode(z); idx, val = sae.encode_sparse(x)
"""
from saekit.sae.base import SAE, StepOutput, TrainContext
from saekit.sae.config import ARCHS, SAEConfig
from saekit.sae.checkpoint import load_checkpoint, save_sae
from saekit.sae import relu, topk, batchtopk, jumprelu, matryoshka, gated  # noqa: F401,E402  (register archs)
from saekit.sae.loader import load_sae  # noqa: E402

__all__ = ["SAE", "SAEConfig", "ARCHS", "StepOutput", "TrainContext", "load_checkpoint", "load_sae", "save_sae"]
