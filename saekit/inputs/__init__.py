"""A command's inputs (SAE, store, hook, dataset, model), each opened or loaded once: ``Inputs``; and the
checks every pass makes before it starts (``checks``: hook chosen, SAE width matching the store)."""
from saekit.inputs.inputs import Inputs

__all__ = ["Inputs"]
