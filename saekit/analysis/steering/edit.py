"""Steering a model with SAE latents: clamp (keeping the SAE error term), add a decoder direction, ablate.

`steer(...)` is a context manager that splices the edit into the model through `model.hooks`;
saekit.analysis.steering.dose runs the model with and without the edit and reports the effect.

Edits, for an activation x at a steered position (z = sae.encode(x)):

- clamp  (default): z'_i = value * strength for each steered latent i, then
                    x' = x + (decode(z') - decode(z)): only the latent's contribution changes and the
                    SAE's reconstruction error (x - decode(z)) is kept, so the model sees its own
                    activation plus the edit, never the lossy reconstruction;
- add:              x' = x + strength * value * d_i, where d_i = decode(e_i) - decode(0) is the latent's
                    decoder direction in raw activation space and `value` the latent's max activation
                    (so strength 1 adds one "maximally active" copy of the feature);
- ablate:           z'_i = (1 - strength) * z_i (strength 1 removes the latent), error term kept.

A transcoder reads its input hook and writes its target hook (an MLP's output): z is encoded from the
input recorded in the same forward pass, and the edit (decode(z', x) - decode(z, x)) is added to the
target's activation, so the latent's decoder direction is written where the transcoder writes.

Positions: "all", a list of token indices (negative ones count from the end), a slice, or a bool
mask [B, T]. Tokens outside the positions are left untouched.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence, Union

import torch

from saekit.analysis.steering.crosscoder import steer_crosscoder
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.models.base import HookedModel
    from saekit.sae import SAE

MODES = ("clamp", "add", "ablate")
Positions = Union[str, Sequence[int], slice, torch.Tensor]


@dataclass(frozen=True)
class SteerSpec:
    """One steering edit: which latents, how, where and how strongly."""

    hook: str
    latents: tuple[tuple[int, float], ...]
    mode: str = "clamp"
    strength: float = 1.0
    positions: Positions = "all"

    def describe(self) -> dict[str, str | float | dict[int, float] | list[int]]:
        pos = self.positions
        if isinstance(pos, slice):
            pos = f"{pos.start}:{pos.stop}:{pos.step}"
        elif isinstance(pos, torch.Tensor):
            pos = "mask"
        elif not isinstance(pos, str):
            pos = [int(p) for p in pos]
        return {"hook": self.hook, "latents": {int(i): float(v) for i, v in self.latents}, "mode": self.mode,
                "strength": float(self.strength), "positions": pos}


# ----------------------------------------------------------------------------- validation


def _sae_hook(sae: SAE) -> str:
    return str(getattr(getattr(sae, "cfg", None), "hook", "") or "")


def sae_dims(sae: SAE) -> tuple[int, int]:
    cfg = getattr(sae, "cfg", None)
    if cfg is not None and getattr(cfg, "d_in", None) and getattr(cfg, "d_sae", None):
        return int(cfg.d_in), int(cfg.d_sae)
    d_sae, d_in = sae.W_dec.shape
    return int(d_in), int(d_sae)


def normalize_latents(latents: Mapping[int, float] | Sequence[int] | int, mode: str, d_sae: int) -> tuple[tuple[int, float], ...]:
    """{latent: value} (or a list of latents for ablate) -> sorted ((latent, value), ...), range-checked."""
    if mode not in MODES:
        raise SaekitError(f"steering mode {mode!r} is unknown (expected one of {', '.join(MODES)})")
    if isinstance(latents, int):
        latents = [latents]
    if isinstance(latents, Mapping):
        items = [(k, v) for k, v in latents.items()]
    else:
        if mode != "ablate":
            raise SaekitError(f"mode {mode!r} needs {{latent: value}}, got a list of latents {list(latents)}")
        items = [(k, 0.0) for k in latents]
    if not items:
        raise SaekitError("no latents to steer (expected at least one latent index)")
    out = []
    for k, v in items:
        try:
            i = int(k)
        except (TypeError, ValueError):
            raise SaekitError(f"latent {k!r} is not an integer index") from None
        if i != k and not isinstance(k, (int,)):
            raise SaekitError(f"latent {k!r} is not an integer index")
        if not 0 <= i < d_sae:
            raise SaekitError(f"latent index {i} is out of range for this SAE (expected 0 <= latent < d_sae={d_sae})")
        value = float(v)
        if not math.isfinite(value):
            raise SaekitError(f"steering value for latent {i} must be finite, got {v!r}")
        out.append((i, value))
    return tuple(sorted(out))


def check_hook(model: HookedModel, hook: str, sae: SAE) -> None:
    """The SAE must have been trained on `hook`, and the model must expose it."""
    trained_on = _sae_hook(sae)
    if trained_on and trained_on != hook:
        raise SaekitError(f"the SAE was trained on hook {trained_on!r} but steering was asked at {hook!r} (use --hook {trained_on} or an SAE trained on {hook})")
    names = getattr(model, "hook_names", None)
    for hook in getattr(getattr(sae, "cfg", None), "in_hooks", ()) or (hook,):  # a crosscoder writes each of its hooks
        available = list(names()) if callable(names) and not hook.startswith("module:") else []
        if available and hook not in available:
            raise SaekitError(f"hook {hook!r} does not exist on model {getattr(model, 'model_id', '?')} (expected one of e.g. {', '.join(available[:4])}, ...)")


# ----------------------------------------------------------------------------- the edit


def position_mask(positions: Positions, batch: int, n_tokens: int, device: torch.device) -> torch.Tensor:
    """positions -> bool mask [B, T]."""
    if isinstance(positions, str):
        if positions != "all":
            raise SaekitError(f"positions {positions!r} not understood (expected 'all', a list of indices, a slice or a bool mask)")
        return torch.ones(batch, n_tokens, dtype=torch.bool, device=device)
    if isinstance(positions, torch.Tensor) and positions.dtype == torch.bool:
        if positions.shape != (batch, n_tokens):
            raise SaekitError(f"position mask has shape {tuple(positions.shape)}, expected {(batch, n_tokens)}")
        return positions.to(device)
    mask = torch.zeros(batch, n_tokens, dtype=torch.bool, device=device)
    if isinstance(positions, slice):
        mask[:, positions] = True
        return mask
    idx = [int(p) for p in positions]
    for p in idx:
        if not -n_tokens <= p < n_tokens:
            raise SaekitError(f"position {p} is out of range for a sequence of {n_tokens} tokens")
    if idx:
        mask[:, idx] = True
    return mask


def _decode(sae: SAE, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sae.decode(z, x) when the SAE takes the raw input (to undo per-row normalisation), else decode(z)."""
    try:
        return sae.decode(z, x)
    except TypeError:
        return sae.decode(z)


def steer_activations(x: torch.Tensor, sae: SAE, spec: SteerSpec, onto: torch.Tensor | None = None) -> torch.Tensor:
    """Apply `spec` to activations [B, T, d] (or [B, d] for pooled hooks); returns a new tensor. ``onto``: a
    transcoder's target activation [B, T, d_out] the edit is added to (x is then its input)."""
    d_in, _ = sae_dims(sae)
    if x.shape[-1] != d_in:
        raise SaekitError(f"activation at {spec.hook} has width {x.shape[-1]} but the SAE expects d_in={d_in}")
    squeeze = x.dim() == 2
    x3 = x.unsqueeze(1) if squeeze else x
    B, T, D = x3.shape
    mask = position_mask(spec.positions if not squeeze else "all", B, T, x3.device)
    param = sae.W_dec
    flat = x3.reshape(B * T, D).to(param.dtype)
    sel = mask.reshape(-1)
    if not bool(sel.any()):
        return x
    rows = flat[sel]
    base = flat if onto is None else (onto.unsqueeze(1) if squeeze else onto).reshape(B * T, -1).to(param.dtype)
    with torch.no_grad():
        if spec.mode == "add":
            # decode(strength * value * e_i) - decode(0), row by row: exact for every input
            # normalisation (a layernorm SAE scales its directions by each row's own std)
            z = torch.zeros(rows.shape[0], sae_dims(sae)[1], dtype=param.dtype, device=param.device)
            z_new = z.clone()
            for i, v in spec.latents:
                z_new[:, i] = v * spec.strength
        else:
            z = sae.encode(rows)
            z_new = z.clone()
            for i, v in spec.latents:
                if spec.mode == "clamp":
                    z_new[:, i] = v * spec.strength
                else:
                    z_new[:, i] = z[:, i] * (1.0 - spec.strength)
        new_rows = base[sel] + (_decode(sae, z_new, rows) - _decode(sae, z, rows))
    out = base.clone()
    out[sel] = new_rows
    out = out.reshape(B, T, base.shape[-1]).to(x.dtype)
    return out.squeeze(1) if squeeze else out


@contextlib.contextmanager
def steer(
    model: HookedModel,
    hook: str,
    sae: SAE,
    latents: Mapping[int, float] | Sequence[int] | int,
    mode: str = "clamp",
    positions: Positions = "all",
    strength: float = 1.0,
) -> Iterator[SteerSpec]:
    """Steer `model` at `hook` with SAE latents for the duration of the `with` block.

    >>> with steer(m, "blocks.3.hook_resid_post", sae, {12: 8.0}):     # clamp latent 12 to 8
    ...     logits = m.forward(inputs)
    """
    _, d_sae = sae_dims(sae)
    cfg = getattr(sae, "cfg", None)
    crosscoder = len(getattr(cfg, "in_hooks", ()) or ()) > 1
    check_hook(model, hook, sae)
    if not math.isfinite(float(strength)):
        raise SaekitError(f"strength must be a finite number, got {strength!r}")
    spec = SteerSpec(hook=hook, latents=normalize_latents(latents, mode, d_sae), mode=mode,
                     strength=float(strength), positions=positions)
    if crosscoder:  # its latent written into every hook it writes (saekit.analysis.steering.crosscoder)
        with steer_crosscoder(model, sae, spec, position_mask):
            yield spec
        return
    targets = tuple(getattr(cfg, "target_hooks", ()) or ())
    if not targets:
        with model.hooks({hook: lambda act: steer_activations(act, sae, spec)}):
            yield spec
        return
    recorded: dict[str, torch.Tensor] = {}

    def record(act: torch.Tensor) -> torch.Tensor:
        recorded["x"] = act
        return act

    def write(act: torch.Tensor) -> torch.Tensor:
        if "x" not in recorded:
            raise SaekitError(f"the transcoder's input hook {hook!r} did not run before its target {targets[0]!r}")
        return steer_activations(recorded.pop("x"), sae, spec, onto=act)

    with model.hooks({hook: record, targets[0]: write}):
        yield spec
