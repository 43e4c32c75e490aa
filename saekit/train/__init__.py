"""SAE training: `train(TrainConfig) -> SAE` (`train_sweep` for several variants from one pass), single
process or under torchrun (`python -m saekit.train`).

The package itself is callable as the `train` command (``saekit.train(TrainConfig(...))`` is
``run_training``: a `TrainResult`, one SAE per sweep variant, as `saekit train` gives); names load on first use."""
from saekit.common.lazy import lazy_exports

__all__ = ["ArraySource", "TrainConfig", "TrainResult", "auto_lr", "run_training", "train", "train_sweep"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "TrainConfig": "saekit.train.config", "auto_lr": "saekit.train.config",
    "ArraySource": "saekit.train.data", "train": "saekit.train.trainer", "train_sweep": "saekit.train.trainer",
    "TrainResult": "saekit.train.command", "run_training": "saekit.train.command"}, command="run_training")
