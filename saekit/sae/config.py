"""The SAE's frozen configuration: everything needed to rebuild the module from config.json."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Union

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.sae.registry import ARCH_CLASSES, ARCHS, arch_class

__all__ = ["ARCH_CLASSES", "ARCHS", "NORMALIZATIONS", "SAEConfig", "SAEFields"]

NORMALIZATIONS = ("scale", "layernorm", "none")
#: SAEConfig field name -> value, for a config's fields set by name (an architecture's defaults, its options)
SAEFields = dict[str, Union[int, float, str, bool, tuple[int, ...], tuple[str, ...], None]]


@dataclass(frozen=True)
class SAEConfig:
    """Shape, architecture and input normalisation of one SAE.

    normalization:
      "scale"     x_n = x * norm_scale, norm_scale = 1/sqrt(E||x||^2) estimated on the store, so the
                  normalised inputs have unit mean squared norm;
      "layernorm" x_n = (x - mean_token) / std_token per row, undone with the same row's statistics;
      "none"      x_n = x.
    All weights live in the normalised space; encode/decode/forward take and return raw activations.
    """

    arch: str
    d_in: int
    d_sae: int
    k: int | None = None
    hook: str = ""
    normalization: str = "scale"
    norm_scale: float = 1.0
    # relu: None -> 5 / sqrt(d_in), Anthropic's lambda = 5 (for inputs scaled to E||x||^2 = d_in)
    # translated to our unit-mean-squared-norm inputs
    l1_coeff: float | None = None
    l1_decoder_norm: bool = False
    # jumprelu: straight-through kernel width eps and initial threshold theta0. The paper and SAELens use
    # 0.001 for both (inputs of unit mean squared norm, as here); with 0.001 the planted-dictionary test
    # (tests/test_sae_planted.py: 256 latents, 300k tokens) recovers 0% of the atoms against >= 90% at
    # 0.05: theta's gradient only sees pre-activations within eps/2 of it (docs/methods.md)
    l0_coeff: float = 1e-3
    bandwidth: float = 0.05
    init_threshold: float = 0.05
    # matryoshka: ends of the nested prefix groups (the last one is d_sae)
    matryoshka_prefixes: tuple[int, ...] = ()
    # provenance from the store: which model, and which tokens were captured ("all", "patches", ...)
    model_id: str = ""
    tokens: str = "all"
    # held-out split used in training (stores.split): fraction of samples kept out, and the hash salt
    holdout: float = 0.0
    holdout_salt: str = ""
    # SAEs opened from another library's files (saekit.sae.formats): its format, its own hook name,
    # config and where the files came from; empty for SAEs trained here
    source: JSONObject = field(default_factory=dict)
    # massive-activation tokens left out of the store (saekit.capture.massive), so also left out of
    # splicing: the first position, and rows above massive_norm_ratio x the median norm (None: none)
    skip_first_position: bool = False
    massive_norm_ratio: float | None = None
    # transcoders (saekit.sae.paired): the hook(s) the decoder writes, read from the same store rows as
    # `hook`; their width d_out and their own scale (x_target_n = x_target * target_scale). The encoder
    # then reads the raw input (no b_dec subtracted: b_dec lives in the target's space). skip adds the
    # linear path x_n W_skip^T (Paulo et al. 2025). Empty for SAEs and crosscoders.
    target_hooks: tuple[str, ...] = ()
    d_out: int | None = None
    target_scale: float = 1.0
    skip: bool = False
    # crosscoders: the hooks whose rows, side by side, make the input (and the reconstruction); `hook` is
    # then their names joined by commas. Empty for single-hook SAEs and transcoders.
    in_hooks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        arch = arch_class(self.arch)  # raises naming the known architectures
        if self.d_in <= 0 or self.d_sae <= 0:
            raise SaekitError(f"d_in and d_sae must be positive, got d_in={self.d_in}, d_sae={self.d_sae}")
        if self.normalization not in NORMALIZATIONS:
            raise SaekitError(
                f"unknown normalization {self.normalization!r} (expected one of {', '.join(NORMALIZATIONS)})"
            )
        if not (math.isfinite(self.norm_scale) and self.norm_scale > 0):
            raise SaekitError(f"norm_scale must be a positive finite number, got {self.norm_scale}")
        object.__setattr__(self, "target_hooks", tuple(self.target_hooks))
        object.__setattr__(self, "in_hooks", tuple(self.in_hooks))
        if self.d_out is None:
            object.__setattr__(self, "d_out", self.d_in)
        if self.skip and not self.target_hooks:
            raise SaekitError("skip (a linear skip path) needs a target hook: it is a transcoder option")
        if self.target_hooks and self.normalization == "layernorm":
            raise SaekitError("transcoders take --normalization scale or none (layernorm would need the target's "
                              "own per-row statistics at inference, which a replacement does not have)")
        if not (math.isfinite(self.target_scale) and self.target_scale > 0):
            raise SaekitError(f"target_scale must be a positive finite number, got {self.target_scale}")
        if self.l1_coeff is None:
            object.__setattr__(self, "l1_coeff", 5.0 / math.sqrt(self.d_in))
        for name, value in arch.check_config(self).items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> JSONObject:
        d = dataclasses.asdict(self)
        d["matryoshka_prefixes"] = list(self.matryoshka_prefixes)
        d["target_hooks"], d["in_hooks"] = list(self.target_hooks), list(self.in_hooks)
        return d

    @property
    def is_transcoder(self) -> bool:
        return bool(self.target_hooks)

    @property
    def input_hooks(self) -> tuple[str, ...]:
        """The real store hooks the input is read from (several for a crosscoder)."""
        return self.in_hooks or (self.hook,)

    @property
    def output_hooks(self) -> tuple[str, ...]:
        """The hooks the decoder writes: the targets of a transcoder, else the input hooks."""
        return self.target_hooks or self.input_hooks

    @classmethod
    def from_dict(cls, d: JSONObject) -> "SAEConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SaekitError(f"SAE config has unknown fields {unknown} (expected a subset of {sorted(names)})")
        d = dict(d)
        for name in ("matryoshka_prefixes", "target_hooks", "in_hooks"):
            if name in d:
                d[name] = tuple(d[name])
        try:
            return cls(**d)
        except TypeError as exc:
            raise SaekitError(f"SAE config is incomplete: {exc}") from exc

    def replace(self, **changes: int | float | str | bool | tuple[int, ...] | tuple[str, ...] | JSONObject | None
                ) -> "SAEConfig":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
