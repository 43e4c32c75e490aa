"""The SAE module: shared parameters, raw-space encode/decode, and the per-architecture extension points.

Parameters (all in the normalised input space):
  W_enc [d_in, d_sae] (stored internally transposed, W_encT [d_sae, d_in], so that rows can be
  gathered), b_enc [d_sae], W_dec [d_sae, d_out] with unit-norm rows, b_dec [d_out]; d_out = d_in
  except for transcoders, whose decoder writes the target hook (in its own normalised space) and whose
  encoder reads the input without subtracting b_dec; a skip transcoder adds W_skip [d_out, d_in].
Architectures subclass SAE in their own module; the class statement registers them (ARCH_CLASSES) and
names their training hyper-parameters (``options``, a frozen dataclass whose fields become flags of
``saekit train``) and their training behaviour (the class attributes and methods below the
"training behaviour" line), so the trainer never asks which architecture it drives.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from saekit.common.errors import SaekitError
from saekit.sae.config import SAEConfig, SAEFields
from saekit.sae.options import ArchOptions
from saekit.sae.registry import ARCH_CLASSES, ARCH_PACKAGE, arch_class, builtin_arch_names
from saekit.sae.construct import random_init_enabled
from saekit.sae.normalization import NormState, denormalize, normalize


@dataclass
class TrainContext:
    """What the trainer tells an architecture about the current step."""

    dead_idx: torch.Tensor | None = None  # latents that have not fired for a while
    k_aux: int = 256
    aux_coeff: float = 1 / 32
    sparse_kernels: bool = True
    autocast_dtype: torch.dtype | None = None
    l1_scale: float = 1.0  # relu: multiplies l1_coeff (the trainer's lambda warm-up)
    # transcoders: the normalised target rows [B, d_out] the decoder must reproduce (None: the input)
    target: torch.Tensor | None = None
    # the [B, d_sae] pre-activations' storage, reused from step to step: a fresh 4096 x 3072 float32
    # tensor costs about 25 ms of page faults per step on a CPU, a tenth of a whole TopK step there
    pre_buffer: torch.Tensor | None = None


@dataclass
class StepOutput:
    """Loss and cheap per-step statistics (no dense B x d_sae work needed to compute them)."""

    loss: torch.Tensor
    sse: torch.Tensor  # sum over rows of ||x_n - x_hat_n||^2 (detached)
    nnz: int  # number of nonzero latents in the batch
    fired: torch.Tensor  # [d_sae] int64 counts of rows each latent fired on
    aux_loss: torch.Tensor | None = None
    min_active: torch.Tensor | None = None  # smallest selected activation (batchtopk threshold EMA)


@dataclass(frozen=True)
class TrainingPlan:
    """What an architecture asks of the trainer besides its loss."""

    resample_every: int = 0  # resample latents dead for N steps, every N steps of the first half; 0 = never
    penalty_warmup_steps: int = 0  # steps over which TrainContext.l1_scale ramps from 0 to 1
    k_aux: int = 256  # AuxK latents (TrainContext.k_aux)
    aux_coeff: float = 1 / 32  # AuxK loss weight (TrainContext.aux_coeff)


class SAE(nn.Module):
    """The base of every architecture. A subclass names itself in its class statement, which also
    registers it in ARCH_CLASSES: ``class GatedSAE(SAE, arch="gated", extra_tensors={"b_mag": "d_sae"},
    options=GatedOptions)``."""

    arch: ClassVar[str] = ""
    extra_tensors: ClassVar[dict[str, str]] = {}  # name -> "scalar" | "d_sae"
    options: ClassVar[type[ArchOptions]] = ArchOptions

    def __init_subclass__(cls, arch: str | None = None, extra_tensors: dict[str, str] | None = None,
                          options: type[ArchOptions] | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if extra_tensors is not None:
            cls.extra_tensors = extra_tensors
        if options is not None:
            cls.options = options
        if arch is not None:
            home = f"{ARCH_PACKAGE}.{arch}"
            if arch in builtin_arch_names() and cls.__module__ != home:
                raise SaekitError(f"SAE architecture {arch!r} is the module {home}; {cls.__qualname__} needs another name")
            cls.arch = arch
            ARCH_CLASSES[arch] = cls

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        if cfg.arch != self.arch:
            raise SaekitError(f"config arch {cfg.arch!r} does not match module arch {self.arch!r}")
        self.cfg = cfg
        m, d, o = cfg.d_sae, cfg.d_in, cfg.d_out
        self.W_encT = nn.Parameter(torch.empty(m, d))
        self.b_enc = nn.Parameter(torch.zeros(m))
        self.W_dec = nn.Parameter(torch.empty(m, o))
        self.b_dec = nn.Parameter(torch.zeros(o))
        self.W_skip = nn.Parameter(torch.zeros(o, d)) if cfg.skip else None
        if random_init_enabled():  # loaders skip it: they overwrite every tensor (saekit.sae.construct)
            self.reset_parameters(torch.Generator().manual_seed(0))

    # ---- construction ------------------------------------------------------------------------------
    @staticmethod
    def create(cfg: SAEConfig, seed: int = 0) -> "SAE":
        """A fresh SAE of cfg.arch with the recipe's init (unit-norm decoder rows, W_enc = W_dec^T)."""
        sae = arch_class(cfg.arch)(cfg)
        sae.reset_parameters(torch.Generator().manual_seed(seed))
        return sae

    @torch.no_grad()
    def reset_parameters(self, gen: torch.Generator) -> None:
        W = torch.randn(self.cfg.d_sae, self.cfg.d_out, generator=gen)
        W /= W.norm(dim=1, keepdim=True)
        self.W_dec.copy_(W)
        if self.cfg.d_in == self.cfg.d_out:
            self.W_encT.copy_(W)
        else:  # a transcoder between widths: no transpose to tie to, a random unit-norm encoder
            E = torch.randn(self.cfg.d_sae, self.cfg.d_in, generator=gen)
            self.W_encT.copy_(E / E.norm(dim=1, keepdim=True))
        self.b_enc.zero_()
        self.b_dec.zero_()
        if self.W_skip is not None:  # the skip path starts at zero, as in Paulo et al. 2025 and sparsify
            self.W_skip.zero_()

    # ---- public API --------------------------------------------------------------------------------
    @property
    def W_enc(self) -> torch.Tensor:
        """Encoder [d_in, d_sae] (a view of the internal transposed storage)."""
        return self.W_encT.t()

    @property
    def device(self) -> torch.device:
        return self.W_dec.device

    def _prep(self, x: torch.Tensor) -> tuple[torch.Tensor, NormState, tuple[int, ...]]:
        if x.shape[-1] != self.cfg.d_in:
            raise SaekitError(f"SAE input has last dimension {x.shape[-1]}, expected d_in={self.cfg.d_in}")
        lead = tuple(x.shape[:-1])
        x2 = x.reshape(-1, self.cfg.d_in).to(device=self.device, dtype=self.W_dec.dtype)
        xn, st = normalize(self.cfg, x2)
        return xn, st, lead

    @property
    def centres_input(self) -> bool:
        """Whether the encoder subtracts b_dec from its input (SAEs, crosscoders; not transcoders)."""
        return not self.cfg.target_hooks

    def centre(self, xn_BD: torch.Tensor) -> torch.Tensor:
        return xn_BD - self.b_dec if self.centres_input else xn_BD

    def skip_out(self, xn_BD: torch.Tensor) -> torch.Tensor | None:
        """The skip transcoder's linear path x_n W_skip^T [B, d_out] (None without one)."""
        return None if self.W_skip is None else xn_BD @ self.W_skip.t()

    def reconstruct_n(self, z_BM: torch.Tensor, xn_BD: torch.Tensor) -> torch.Tensor:
        """Normalised output of latents z for normalised input xn: z W_dec + b_dec (+ the skip path)."""
        out = z_BM @ self.W_dec + self.b_dec
        skip = self.skip_out(xn_BD)
        return out if skip is None else out + skip

    def pre_acts(self, xn_BD: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b_enc, self.centre(xn_BD), self.W_encT.t())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Dense latents [..., d_sae] for raw activations x [..., d_in]."""
        xn, _, lead = self._prep(x)
        return self._encode_n(xn).reshape(*lead, self.cfg.d_sae)

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices [B, K], values [B, K]) of the active latents, strongest first.

        K = k for topk; for variable-L0 architectures K is the largest count of active latents in the
        batch and shorter rows are padded with value 0 (their padding indices are arbitrary)."""
        xn, _, _ = self._prep(x)
        return self._encode_sparse_n(xn)

    def decode(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Raw-space reconstruction [..., d_out] of latents z [..., d_sae] (d_out = d_in but for transcoders,
        whose output is the target hook's).

        x (the raw input) is only needed for layernorm-normalised SAEs, to undo the per-row statistics,
        and for skip transcoders, whose output has a linear path from the input."""
        lead = tuple(z.shape[:-1])
        z2 = z.reshape(-1, self.cfg.d_sae).to(device=self.device, dtype=self.W_dec.dtype)
        st, xn = None, None
        if x is not None:
            xn, st, _ = self._prep(x)
        if self.W_skip is not None and xn is None:
            raise SaekitError("this is a skip transcoder: pass the raw input too, decode(z, x=x), for its linear path")
        xn_hat = z2 @ self.W_dec + self.b_dec if xn is None else self.reconstruct_n(z2, xn)
        return self._denormalize_out(xn_hat, st).reshape(*lead, self.cfg.d_out)

    def _denormalize_out(self, yn: torch.Tensor, st: NormState | None) -> torch.Tensor:
        if self.cfg.target_hooks:
            return yn / self.cfg.target_scale if self.cfg.normalization == "scale" else yn
        return denormalize(self.cfg, yn, st)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The SAE's reconstruction of x (a transcoder's prediction of its target) [..., d_out]."""
        xn, st, lead = self._prep(x)
        xn_hat = self.reconstruct_n(self._encode_n(xn), xn)
        return self._denormalize_out(xn_hat, st).reshape(*lead, self.cfg.d_out).to(x.dtype)

    # ---- architecture extension points -------------------------------------------------------------
    def _encode_n(self, xn_BD: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _encode_sparse_n(self, xn_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return dense_to_padded(self._encode_n(xn_BD))

    def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
        """Loss of one batch of normalised inputs (the trainer calls backward on .loss)."""
        raise NotImplementedError

    def after_step(self, out: StepOutput) -> None:
        """Per-step state updates that are not gradient steps (e.g. the batchtopk threshold EMA)."""

    # ---- training behaviour (the trainer reads these instead of the arch name) ----------------------
    #: the encoder picks latents by a top-k of pre-activations: the step gets the dead latents (for
    #: AuxK), and bf16 autocast covers only the selection GEMM (values are recomputed in fp32)
    selects_top_k: ClassVar[bool] = False
    #: StepOutput.min_active feeds a threshold shared by the whole batch: data-parallel ranks take the minimum
    shares_min_active: ClassVar[bool] = False
    #: how a latent-sharded run (saekit.train.shard_latents) selects the active latents over its ranks: "row"
    #: (each row's top k), "batch" (the batch's top k * B, with the inference threshold); None: not shardable
    shard_selection: ClassVar[str | None] = None

    @classmethod
    def check_config(cls, cfg: SAEConfig) -> SAEFields:
        """Raise SaekitError if cfg's architecture fields are invalid; returns defaults to fill in."""
        return {}

    # (class methods of cfg, not of an instance: a latent-sharded run trains a slice of the SAE, another module)
    @classmethod
    def constrain_decoder(cls, cfg: SAEConfig) -> bool:
        """Keep decoder rows unit-norm during training (gradients projected, rows renormalised)."""
        return True

    @classmethod
    def training_plan(cls, cfg: SAEConfig, opts: ArchOptions, n_steps: int) -> TrainingPlan:
        """The trainer's duties for an SAE of ``cfg`` (``opts``: the run's TrainConfig, an instance of ``cls.options``)."""
        return TrainingPlan()

    def before_save(self) -> None:
        """Bring the trained weights to the checkpoint's conventions (e.g. unit-norm decoder rows)."""

    def to_save(self) -> dict[str, torch.Tensor]:
        """Tensors as written to weights.safetensors (W_enc in its public [d_in, d_sae] layout)."""
        return {
            "W_enc": self.W_encT.detach().t().contiguous(),
            "b_enc": self.b_enc.detach().clone(),
            "W_dec": self.W_dec.detach().clone(),
            "b_dec": self.b_dec.detach().clone(),
            **{name: getattr(self, name).detach().clone() for name in self.extra_tensors},
            **({"W_skip": self.W_skip.detach().clone()} if self.W_skip is not None else {}),
        }

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        m, d, o = self.cfg.d_sae, self.cfg.d_in, self.cfg.d_out
        shapes = {"W_enc": (d, m), "b_enc": (m,), "W_dec": (m, o), "b_dec": (o,)}
        if self.W_skip is not None:
            shapes["W_skip"] = (o, d)
        for name, kind in self.extra_tensors.items():
            shapes[name] = () if kind == "scalar" else (m,)
        return shapes

    @torch.no_grad()
    def load_tensors(self, tensors: dict[str, torch.Tensor], where: str = "checkpoint") -> None:
        expected = self.expected_shapes()
        missing = sorted(set(expected) - set(tensors))
        if missing:
            raise SaekitError(f"{where} is missing tensors {missing} for a {self.arch} SAE")
        unexpected = sorted(set(tensors) - set(expected))
        if unexpected:
            raise SaekitError(f"{where} has unexpected tensors {unexpected} for a {self.arch} SAE")
        for name, shape in expected.items():
            if tuple(tensors[name].shape) != shape:
                raise SaekitError(
                    f"{where}: tensor {name} has shape {list(tensors[name].shape)}, expected {list(shape)} "
                    f"(d_in={self.cfg.d_in}, d_sae={self.cfg.d_sae}, d_out={self.cfg.d_out})"
                )
        self.W_encT.copy_(tensors["W_enc"].t())
        self.b_enc.copy_(tensors["b_enc"])
        self.W_dec.copy_(tensors["W_dec"])
        self.b_dec.copy_(tensors["b_dec"])
        for name in self.extra_tensors:
            getattr(self, name).copy_(tensors[name])
        if self.W_skip is not None:
            self.W_skip.copy_(tensors["W_skip"])

    # ---- checkpoint --------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        from saekit.sae.checkpoint import save_sae

        save_sae(self, directory)

    def extra_repr(self) -> str:
        c = self.cfg
        out = f"arch={c.arch}, d_in={c.d_in}, d_sae={c.d_sae}, k={c.k}, hook={c.hook!r}"
        return out + (f", target_hooks={list(c.target_hooks)}, d_out={c.d_out}, skip={c.skip}" if c.target_hooks else "")


def dense_to_padded(z_BM: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, values) of the nonzero entries of each row, strongest first, padded with zeros."""
    K = max(int((z_BM != 0).sum(dim=1).max().item()) if z_BM.numel() else 0, 1)
    vals, idx = z_BM.topk(K, dim=1)
    vals = torch.where(vals > 0, vals, torch.zeros_like(vals))
    return idx, vals
