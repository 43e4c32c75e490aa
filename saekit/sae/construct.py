"""Building an SAE to hold tensors that already exist (a checkpoint, another library's weights):
the module is constructed with uninitialised storage instead of the recipe's random init, which
the loaded tensors would overwrite anyway (for a 24576 x 768 SAE the init is most of a load)."""
from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, Iterator

from saekit.sae.config import SAEConfig
from saekit.sae.registry import arch_class

if TYPE_CHECKING:
    import torch

    from saekit.sae.base import SAE

_RANDOM_INIT = contextvars.ContextVar("saekit_sae_random_init", default=True)


def random_init_enabled() -> bool:
    """False inside ``skip_random_init()``: SAE constructors then leave their parameters as allocated."""
    return _RANDOM_INIT.get()


@contextlib.contextmanager
def skip_random_init() -> Iterator[None]:
    token = _RANDOM_INIT.set(False)
    try:
        yield
    finally:
        _RANDOM_INIT.reset(token)


def from_tensors(cfg: SAEConfig, tensors: dict[str, torch.Tensor], where: str = "checkpoint") -> SAE:
    """The ``cfg.arch`` SAE holding ``tensors`` (checked by ``SAE.load_tensors``, which sets every
    state tensor), built without the random init."""
    arch = arch_class(cfg.arch)
    with skip_random_init():
        sae = arch(cfg)
    sae.load_tensors(tensors, where=where)
    return sae
