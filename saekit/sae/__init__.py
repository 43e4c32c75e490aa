"""Sparse autoencoders: one module per architecture (saekit/sae/archs/) behind one SAE interface.

    from saekit.sae import SAE, load_sae
    sae = load_sae(spec)  # saekit.sae.loader: a checkpoint directory or a foreign SAE
    z = sae.encode(x); x_hat = sae.decode(z); idx, val = sae.encode_sparse(x)

Names load on first use, so the torch-free parts (SAEConfig, the architecture names and options that
``saekit train --help`` lists) import without torch.
"""
from saekit.common.lazy import lazy_exports

__all__ = ["SAE", "SAEConfig", "ARCHS", "StepOutput", "TrainContext", "load_checkpoint", "load_sae", "save_sae"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "SAE": "saekit.sae.base", "StepOutput": "saekit.sae.base", "TrainContext": "saekit.sae.base",
    "SAEConfig": "saekit.sae.config", "ARCHS": "saekit.sae.registry",
    "load_checkpoint": "saekit.sae.checkpoint", "save_sae": "saekit.sae.checkpoint", "load_sae": "saekit.sae.loader"})
