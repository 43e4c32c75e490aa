"""SAE training: `train(TrainConfig) -> SAE` (`train_sweep` for several variants from one pass), single process or under torchrun (`python -m saekit.train`)."""
from saekit.train.config import TrainConfig, auto_lr
from saekit.train.data import ArraySource
from saekit.train.trainer import train, train_sweep

__all__ = ["ArraySource", "TrainConfig", "auto_lr", "train", "train_sweep"]
