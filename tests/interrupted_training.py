"""Training cut by an interrupt at a chosen step and resumed: what the resume tests share."""
from __future__ import annotations

import pytest

from saekit.sae import SAE
from saekit.train import member
from saekit.train.config import TrainConfig
from saekit.train.data import BatchSource


def interrupted_then_resumed(cfg: TrainConfig, monkeypatch: pytest.MonkeyPatch, at_step: int,
                             source: BatchSource | None = None) -> SAE:
    """Train ``cfg`` until step ``at_step`` raises KeyboardInterrupt, then resume it to the end; the resumed SAE."""
    from saekit.train import train

    real_step = member.Member.step

    def step(self, xb, i, verify=None):
        if i == at_step:
            raise KeyboardInterrupt
        return real_step(self, xb, i, verify)

    monkeypatch.setattr(member.Member, "step", step)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, source=source)
    monkeypatch.setattr(member.Member, "step", real_step)
    return train(cfg.replace(resume=True), source=source)
