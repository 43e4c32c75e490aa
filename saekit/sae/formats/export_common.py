"""What every exporter needs: a saekit SAE's weights in the raw activation space, and atomic writes."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TYPE_CHECKING

import torch

from saekit.common.atomic import atomic_directory
from saekit.common.errors import SaekitError

if TYPE_CHECKING:  # saekit.sae.base loads SAEs through this package
    from saekit.sae.base import SAE


@dataclass(frozen=True)
class RawWeights:
    """x -> z = f((x - b_dec) W_enc + b_enc), x_hat = z W_dec + b_dec, with any global input scale folded in.
    Transcoders: z = f(x W_enc + b_enc), y_hat = z W_dec + b_dec (+ x W_skip^T), both scales folded in."""

    W_enc: torch.Tensor  # [d_in, d_sae]
    b_enc: torch.Tensor
    W_dec: torch.Tensor  # [d_sae, d_out]
    b_dec: torch.Tensor
    extra: dict[str, torch.Tensor]  # threshold (scalar), log_threshold, b_mag, r_mag: latent-space, unchanged;
    # W_skip [d_out, d_in] in raw units


def raw_weights(sae: SAE, fmt: str) -> RawWeights:
    """Fold saekit's input scale into the weights (the latents are unchanged, so are thresholds)."""
    cfg = sae.cfg
    if cfg.normalization == "layernorm":
        raise SaekitError(f"cannot export to {fmt}: this SAE normalises each token by its own mean and std "
                          f"(normalization=layernorm), which {fmt} cannot express")
    s = cfg.norm_scale if cfg.normalization == "scale" else 1.0
    s_out = (cfg.target_scale if cfg.target_hooks else s) if cfg.normalization == "scale" else 1.0
    t = {k: v.detach().to("cpu", torch.float64) for k, v in sae.to_save().items()}
    if "W_skip" in t:
        t["W_skip"] = t["W_skip"] * (s / s_out)
    extra = {k: v.to(torch.float32).contiguous() for k, v in t.items() if k not in ("W_enc", "b_enc", "W_dec", "b_dec")}
    return RawWeights(W_enc=(t["W_enc"] * s).float().contiguous(), b_enc=t["b_enc"].float().contiguous(),
                      W_dec=(t["W_dec"] / s_out).float().contiguous(), b_dec=(t["b_dec"] / s_out).float().contiguous(),
                      extra=extra)


def refuse(fmt: str, arch: str, supported: str) -> SaekitError:
    return SaekitError(f"cannot export a {arch} SAE to {fmt}: {fmt} only has {supported}")


@contextmanager
def staged_dir(out: Path) -> Iterator[Path]:
    """A temporary folder that becomes out (new or empty) only when the block finishes without error."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SaekitError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise SaekitError(f"--out {out} is not empty; choose a new directory")
    with atomic_directory(out) as tmp:
        yield tmp
