"""SAE training: `train(TrainConfig) -> SAE`, single process or under torchrun (`python -m saekit.train`)."""
from saekit.train.config import TrainConfig, auto_lr
from saekit.train.data import ArraySource
from saekit.train.trainer import train

__all__ = ["ArraySource", "TrainConfig", "auto_lr", "train"]
