"""The configs of `saekit store info` and `saekit store verify` (torch- and h5py-free, for the CLI's --help)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StoreInfoConfig:
    path: str = field(metadata={"positional": True})  # store .h5 file or shard directory
    stats: bool = False  # also print per-hook norm quantiles and mean squared norm


@dataclass(frozen=True)
class StoreVerifyConfig:
    path: str = field(metadata={"positional": True})  # store .h5 file or shard directory
