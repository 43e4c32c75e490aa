"""Steering with a crosscoder's latent: its decoder direction written into every hook it writes.

A crosscoder (Lindsey et al. 2024, acausal) reads and writes several layers with shared latents, so a
latent's decoder row is one direction per hook, side by side in the hooks' order. Adding the latent
(mode "add") writes each hook's slice into that hook as the model runs. "clamp" and "ablate" need the
latent's activation on the token, which the encoder computes from every hook, later layers included:
a single forward pass cannot know it at the first hook, so they are refused.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable, Iterator

import torch

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.analysis.steering.edit import SteerSpec
    from saekit.models.base import HookedModel
    from saekit.sae import SAE


def crosscoder_direction(sae: "SAE", spec: "SteerSpec") -> torch.Tensor:
    """The raw-space edit [d_in] (every hook's columns) that adding ``spec``'s latents writes."""
    if spec.mode != "add":
        raise SaekitError(f"a crosscoder is steered with --mode add only: {spec.mode} needs the latent's activation, "
                          "which its encoder reads from every hook, later layers included")
    if sae.cfg.normalization == "layernorm":
        raise SaekitError("cannot steer a layernorm-normalised crosscoder: its directions scale with each row's "
                          "statistics over every hook, later layers included")
    with torch.no_grad():
        z = torch.zeros(1, sae.cfg.d_sae, dtype=sae.W_dec.dtype, device=sae.W_dec.device)
        z_new = z.clone()
        for i, v in spec.latents:
            z_new[0, i] = v * spec.strength
        return (sae.decode(z_new) - sae.decode(z))[0]


def hook_offset(hooks: tuple[str, ...], widths: dict[str, int], hook: str, d_in: int) -> int:
    """Where ``hook``'s columns start in a row of ``hooks`` side by side, from the widths seen so far."""
    k = hooks.index(hook)
    before, after = hooks[:k], hooks[k + 1:]
    if all(h in widths for h in before):
        offset = sum(widths[h] for h in before)
    elif all(h in widths for h in after):
        offset = d_in - widths[hook] - sum(widths[h] for h in after)
    else:
        raise SaekitError(f"cannot place {hook!r} in the crosscoder's row: the hooks before and after it have not run")
    if offset < 0 or offset + widths[hook] > d_in:
        raise SaekitError(f"the crosscoder's hooks {', '.join(hooks)} are wider than its d_in={d_in}")
    return offset


def sae_input(model: "HookedModel", hook: str, sae: "SAE", inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """What ``sae`` reads on ``inputs``: ``hook``'s activations, or a crosscoder's hooks side by side."""
    hooks = tuple(getattr(getattr(sae, "cfg", None), "in_hooks", ()) or ()) or (hook,)
    acts = model.capture(inputs, list(hooks))
    return torch.cat([acts[h] for h in hooks], dim=-1)


@contextlib.contextmanager
def steer_crosscoder(model: "HookedModel", sae: "SAE", spec: "SteerSpec",
                     position_mask: Callable[..., torch.Tensor]) -> Iterator["SteerSpec"]:
    """Add ``spec``'s latents' decoder directions into each of the crosscoder's hooks while the block runs
    (``position_mask``: saekit.analysis.steering.edit's, passed in so that module alone imports this one)."""
    if spec.hook != sae.cfg.hook:
        raise SaekitError(f"a crosscoder is steered at its joined hook {sae.cfg.hook!r}, not {spec.hook!r}")
    hooks = tuple(sae.cfg.in_hooks)
    model.check_hooks(list(hooks))
    direction = crosscoder_direction(sae, spec)
    widths: dict[str, int] = {}

    def writer(hook: str) -> Callable[[torch.Tensor], torch.Tensor]:
        def write(act: torch.Tensor) -> torch.Tensor:
            widths[hook] = int(act.shape[-1])
            start = hook_offset(hooks, widths, hook, int(direction.shape[0]))
            delta = direction[start:start + widths[hook]].to(act.dtype)
            if act.dim() == 2:  # a pooled hook: one row per sample
                return act + delta
            mask = position_mask(spec.positions, act.shape[0], act.shape[1], act.device)
            return act + mask.unsqueeze(-1).to(act.dtype) * delta
        return write

    with model.hooks({h: writer(h) for h in hooks}):
        yield spec
