"""Residual-stream capture straight from a transformers decoder stack, without a wrapper's hooks.

`blocks.{i}.hook_resid_pre` is what decoder layer i receives and `blocks.{i}.hook_resid_post` what
it returns, so both can be read with plain torch hooks on the transformers modules; the forward
stops (an exception from the hook) once the deepest requested layer has run. A TransformerBridge
wraps the decoder layers' modules in place (attention, MLP and norms re-implemented around its
per-op HookPoints); for the duration of the capture those wrappers are swapped back for the
transformers modules they wrap (`plain_modules`), so this costs what a plain transformers
forward stopped at that layer costs.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

RESID = re.compile(r"blocks\.(\d+)\.hook_resid_(pre|post)$")


class _Stop(Exception):
    pass


def decoder_layers(model: nn.Module, n_layers: int) -> nn.ModuleList | None:
    """The model's ModuleList of ``n_layers`` decoder blocks (model.layers, transformer.h, ...)."""
    found = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == n_layers]
    return found[0] if len(found) == 1 else None


def _first(x: Any) -> torch.Tensor:
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


def capture_resid(layers: nn.ModuleList, run: Callable[[], Any], hooks: Sequence[str]) -> dict[str, torch.Tensor]:
    """{hook: [B, T, d]} for residual hooks (all must match RESID), running ``run()`` until the deepest fires."""
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
            for name, (i, kind) in want.items():
                if kind == "pre":
                    handles.append(layers[i].register_forward_pre_hook(
                        lambda mod, args, kwargs, n=name: got(n, args[0] if args else kwargs["hidden_states"]),
                        with_kwargs=True))
                else:
                    handles.append(layers[i].register_forward_hook(
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
