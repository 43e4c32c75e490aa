"""Append extra (untrained) tokens to a vision transformer's input sequence: test-time registers.

`HookedModel.hooks` only allows shape-preserving replacements, so this module registers its own
torch hooks on the HF vision tower:

- on the patch/position `embeddings` module's output: concatenate `n` tokens at the END of the
  sequence (after CLS and the patches, so every existing position keeps its index; the new
  tokens get no position embedding, as in Jiang et al. 2025's DINOv2 code);
- on the final full-sequence norm (`layernorm`, a sibling of `embeddings` in HF ViT and DINOv2):
  drop them again, so pooling / the classifier head / last_hidden_state see the original T
  tokens. CLIP's vision tower pools CLS before `post_layernorm`, so nothing needs dropping there.

Inside the block every hook (resid_post, mlp.hook_post, attn.hook_pattern, ...) sees T + n tokens;
the extra tokens are the last n positions.

Initialisation: "zeros" (Jiang et al.'s released DINOv2 code) or "mean" (the mean of the image's
patch tokens at the embedding output, the README's recipe for other models).
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import torch
from torch import nn

from saekit.common.errors import SaekitError
from saekit.models.base import ModuleOutput, first_tensor, replace_first_tensor

if TYPE_CHECKING:
    from saekit.models.base import HookedModel

log = logging.getLogger(__name__)

INITS = ("zeros", "mean")


@dataclass(frozen=True)
class ExtraTokenSites:
    embeddings: str          # dotted path of the module whose output gets the tokens appended
    final_norm: str | None   # dotted path of the module whose output gets them removed (None: keep)


def find_sites(root: nn.Module) -> ExtraTokenSites:
    """Locate the embeddings module and the final full-sequence norm of a HF vision tower."""
    candidates = []
    for name, mod in root.named_modules():
        last = name.rsplit(".", 1)[-1]
        if last == "embeddings" and (hasattr(mod, "patch_embeddings") or hasattr(mod, "patch_embedding")):
            candidates.append(name)
    if not candidates:
        raise SaekitError(f"cannot add test-time registers to {type(root).__name__}: no patch embeddings module "
                          "found (supported: HF ViT, DINOv2 and CLIP vision towers)")
    emb = min(candidates, key=lambda n: n.count("."))
    prefix = emb[: -len("embeddings")]
    final = None
    for norm_name in ("layernorm",):
        path = prefix + norm_name
        try:
            root.get_submodule(path)
            final = path
            break
        except AttributeError:
            continue
    return ExtraTokenSites(embeddings=emb, final_norm=final)


@contextlib.contextmanager
def extra_tokens(model: HookedModel, n: int = 1, init: str = "zeros") -> Iterator[ExtraTokenSites]:
    """Within the block, every forward pass of `model` (a saekit vision adapter) carries `n` extra
    tokens at the end of the sequence. Yields the sites used."""
    if n < 1:
        raise SaekitError(f"number of extra tokens must be >= 1, got {n}")
    if init not in INITS:
        raise SaekitError(f"register init {init!r} is unknown (expected one of {', '.join(INITS)})")
    root = getattr(model, "module", None)
    if not isinstance(root, nn.Module) or getattr(model, "patch_grid", None) is None:
        raise SaekitError(f"test-time registers need a vision transformer; {getattr(model, 'model_id', model)!r} is not one")
    sites = find_sites(root)
    n_prefix = int(getattr(model, "n_prefix_tokens", 1) or 0)

    def append(mod: nn.Module, args: tuple[object, ...], out: ModuleOutput) -> ModuleOutput:
        x = first_tensor(out)
        if init == "zeros":
            extra = x.new_zeros(x.shape[0], n, x.shape[-1])
        else:
            extra = x[:, n_prefix:].mean(dim=1, keepdim=True).expand(-1, n, -1)
        return replace_first_tensor(out, torch.cat([x, extra], dim=1))

    def strip(mod: nn.Module, args: tuple[object, ...], out: ModuleOutput) -> ModuleOutput:

        x = first_tensor(out)
        return replace_first_tensor(out, x[:, :-n])

    handles = [root.get_submodule(sites.embeddings).register_forward_hook(append)]
    if sites.final_norm is not None:
        # registered before any capture hook of the same module, so it runs first
        handles.append(root.get_submodule(sites.final_norm).register_forward_hook(strip))
    else:
        log.info("no full-sequence final norm found; the extra tokens stay in last_hidden_state (CLS pooling is unaffected)")
    try:
        yield sites
    finally:
        for h in handles:
            h.remove()
