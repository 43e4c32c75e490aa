"""Residual-stream and MLP / attention capture straight from a transformers decoder stack, without a wrapper's hooks.

`blocks.{i}.hook_resid_pre` is what decoder layer i receives and `blocks.{i}.hook_resid_post` what
it returns; `ln2.hook_normalized` is what the layer's second norm returns (the MLP's input),
`hook_mlp_in` what that norm receives, `hook_mlp_out` what the MLP returns and `hook_attn_out` what
the attention returns (its first output). All are read with plain torch hooks on the transformers
modules; the forward
stops (an exception from the hook) once the deepest requested layer has run. A TransformerBridge
wraps the decoder layers' modules in place (attention, MLP and norms re-implemented around its
per-op HookPoints); for the duration of the capture those wrappers are swapped back for the
transformers modules they wrap (`plain_modules`), so this costs what a plain transformers
forward stopped at that layer costs.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

RESID = re.compile(r"blocks\.(\d+)\.(hook_resid_pre|hook_resid_post|ln2\.hook_normalized|hook_mlp_in|hook_mlp_out|hook_attn_out)$")
# per hook: (candidate submodule names inside a decoder layer, "" = the layer itself; read its input or output)
_PLAIN_SITES: dict[str, tuple[tuple[str, ...], str]] = {
    "hook_resid_pre": (("",), "pre"),
    "hook_resid_post": (("",), "post"),
    "ln2.hook_normalized": (("post_attention_layernorm", "ln_2", "norm2"), "post"),
    "hook_mlp_in": (("post_attention_layernorm", "ln_2", "norm2"), "pre"),
    "hook_mlp_out": (("mlp", "feed_forward"), "post"),
    "hook_attn_out": (("self_attn", "attn", "attention"), "post"),
}


class _Stop(Exception):
    pass


def decoder_layers(model: nn.Module, n_layers: int) -> nn.ModuleList | None:
    """The model's ModuleList of ``n_layers`` decoder blocks (model.layers, transformer.h, ...)."""
    found = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == n_layers]
    return found[0] if len(found) == 1 else None


def _first(x: torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
    return x[0] if isinstance(x, (tuple, list)) else x


WRAPPED = "_original_component"  # where a TransformerBridge component keeps the module it wraps


@contextmanager
def plain_modules(root: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every wrapper under ``root`` (a module holding the module it wraps as
    ``_original_component``) is replaced in its parent by that module; restored on exit."""
    swaps: list[tuple[nn.Module, str, nn.Module]] = []

    def unwrap(parent: nn.Module) -> None:
        for name, child in list(parent._modules.items()):
            while child is not None and child._modules.get(WRAPPED) is not None:
                swaps.append((parent, name, parent._modules[name]))
                child = child._modules[WRAPPED]
                parent._modules[name] = child
            if child is not None:
                unwrap(child)

    try:
        unwrap(root)
        yield root
    finally:
        for parent, name, wrapper in reversed(swaps):
            parent._modules[name] = wrapper


def _plain_module(layer: nn.Module, names: tuple[str, ...]) -> nn.Module | None:
    for name in names:
        if not name:
            return layer
        found = layer._modules.get(name)
        if found is not None:
            return found
    return None


def capture_resid(layers: nn.ModuleList, run: Callable[[], object], hooks
: Sequence[str]) -> dict[str, torch.Tensor]:
    """{hook: [B, T, d]} for hooks matching RESID, running ``run()`` until the deepest fires; a hook whose
    module this decoder layer does not have is left out of the result (the caller falls back)."""
    want: dict[str, tuple[int, str]] = {}
    for h in hooks:
        m = RESID.match(h)
        assert m is not None, h
        want[h] = (int(m.group(1)), m.group(2))
    out: dict[str, torch.Tensor] = {}
    remaining = set(want)

    def got(name: str, value: torch.Tensor) -> None:
        out[name] = value.detach()
        remaining.discard(name)
        if not remaining:
            raise _Stop

    handles = []
    with plain_modules(layers):
        try:
            for name, (i, point) in want.items():
                names, kind = _PLAIN_SITES[point]
                module = _plain_module(layers[i], names)
                if module is None:
                    return {}
                if kind == "pre":
                    handles.append(module.register_forward_pre_hook(
                        lambda mod, args, kwargs, n=name: got(n, args[0] if args else kwargs["hidden_states"]),
                        with_kwargs=True))
                else:
                    handles.append(module.register_forward_hook(
                        lambda mod, args, output, n=name: got(n, _first(output))))
            with torch.no_grad():
                run()
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
    return {h: out[h] for h in hooks if h in out}


def no_hooks_installed(points: Mapping[str, nn.Module]) -> bool:
    """True when no forward hook is registered on any of the wrapper's hook points (nothing to bypass)."""
    return not any(p._forward_hooks or p._forward_pre_hooks for p in points.values())
