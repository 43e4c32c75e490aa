"""The architectures' training hyper-parameters: one frozen dataclass per family, torch-free.

``saekit.train.config.TrainConfig`` inherits every ArchOptions subclass defined here, so their fields
are ``saekit train``'s flags (``--k``, ``--l1``, ``--bandwidth``, ...) and ``saekit train --help``
imports no torch. An architecture names its options in its class statement
(``class JumpReLUSAE(SAE, arch="jumprelu", options=JumpReLUOptions)``); several may share one (TopK,
BatchTopK and Matryoshka share ``k``). A field's ``# comment`` is its flag's help.
"""
from __future__ import annotations

from dataclasses import dataclass

from saekit.common.errors import SaekitError
from saekit.sae.config import SAEFields


@dataclass(frozen=True)
class ArchOptions:
    """The base: no hyper-parameters. Methods chain through super(), so a TrainConfig (which inherits
    every options class) validates and collects all of them."""

    def validate(self) -> None:
        """Raise SaekitError naming the flag when a value is out of range."""

    def sae_fields(self) -> SAEFields:
        """The SAEConfig fields these options set (the checkpoint records them); unset (None) ones are left out."""
        return {}


@dataclass(frozen=True)
class TopKOptions(ArchOptions):
    """Top-k selecting SAEs (TopK, BatchTopK, Matryoshka)."""

    k: int | None = None  # active latents per token (topk, batchtopk, matryoshka)
    k_aux: int | None = None  # AuxK latents (default d_in / 2)
    aux_coeff: float = 1 / 32  # AuxK loss weight

    def sae_fields(self) -> SAEFields:
        return {**super().sae_fields(), **({"k": self.k} if self.k is not None else {})}


@dataclass(frozen=True)
class MatryoshkaOptions(TopKOptions):
    matryoshka_prefixes: tuple[int, ...] = ()  # nested prefix sizes, e.g. 512,2048,8192,16384

    def sae_fields(self) -> SAEFields:
        return {**super().sae_fields(), "matryoshka_prefixes": tuple(self.matryoshka_prefixes)}


@dataclass(frozen=True)
class L1Options(ArchOptions):
    """An L1 sparsity penalty's weight (ReLU, Gated)."""

    l1: float | None = None  # L1 coefficient for relu (default 5 / sqrt(d_in))

    def sae_fields(self) -> SAEFields:
        return {**super().sae_fields(), **({"l1_coeff": self.l1} if self.l1 is not None else {})}


@dataclass(frozen=True)
class ReLUOptions(L1Options):
    resample_every: int | None = None  # relu: resample dead latents every N steps (default steps // 8; never with l1_decoder_norm, as in Anthropic's April 2024 update), 0 = never
    l1_decoder_norm: bool = False  # relu: weight L1 by decoder norms (free decoder norms)
    l1_warmup_frac: float | None = None  # relu: ramp L1 from 0 over this fraction of steps (default 0.05 with l1_decoder_norm, else 0)

    def validate(self) -> None:
        super().validate()
        if self.l1_warmup_frac is not None and not 0 <= self.l1_warmup_frac <= 1:
            raise SaekitError(f"--l1-warmup-frac must be in [0, 1], got {self.l1_warmup_frac}")

    def sae_fields(self) -> SAEFields:
        return {**super().sae_fields(), "l1_decoder_norm": self.l1_decoder_norm}


@dataclass(frozen=True)
class JumpReLUOptions(ArchOptions):
    l0_coeff: float | None = None  # jumprelu L0 coefficient
    bandwidth: float | None = None  # jumprelu straight-through kernel width
    init_threshold: float | None = None  # jumprelu initial threshold

    def sae_fields(self) -> SAEFields:
        own = {"l0_coeff": self.l0_coeff, "bandwidth": self.bandwidth, "init_threshold": self.init_threshold}
        return {**super().sae_fields(), **{k: v for k, v in own.items() if v is not None}}


def option_groups() -> tuple[type[ArchOptions], ...]:
    """Every ArchOptions subclass defined so far, each once, a class left out when a subclass of it is
    in (Matryoshka's options extend TopK's): the bases TrainConfig inherits."""
    found: list[type[ArchOptions]] = []
    todo = list(ArchOptions.__subclasses__())
    while todo:
        cls = todo.pop(0)
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return tuple(c for c in found if not any(o is not c and issubclass(o, c) for o in found))
