"""One hook-point interface for every model family.

A hook name resolves to a `HookSite`: a torch module plus how to read (and, when allowed, replace)
the activation at its input ("pre") or output ("post"). Capturing registers plain torch hooks
that store the value and raise `_StopForward` once every requested hook has fired, so layers
after the deepest requested hook never run. Replacement hooks (`with m.hooks({...})`) are the
same torch hooks returning a new value; they are registered first, so a capture inside the
block sees the replaced activation.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence, Union

import torch
from torch import nn

from saekit.common.errors import SaekitError
from saekit.common.token_selections import TOKEN_SELECTIONS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from saekit.data import Sample

#: what a torch forward hook sees a module return: a tensor, a tuple or list starting with one, or a
#: transformers ModelOutput (anything with ``last_hidden_state``)
ModuleOutput = object
#: what a torch forward pre-hook (with_kwargs=True) sees: the module's (args, kwargs)
PreHookPayload = tuple[tuple[object, ...], dict[str, object]]
#: a site's payload: a ModuleOutput ("post") or a PreHookPayload ("pre")
HookPayload = Union[ModuleOutput, PreHookPayload]

log = logging.getLogger(__name__)

MAX_LISTED = 12


class _StopForward(Exception):
    """Raised from a capture hook once all requested activations are in hand; never escapes."""


@dataclass(frozen=True)
class HookSite:
    """Where a hook name lives.

    get(payload) -> Tensor: payload is the module output ("post") or (args, kwargs) ("pre").
    put(payload, new) -> payload with the activation replaced; None for read-only sites.
    tower: which forward pass reaches it ("vision", "text" or "lm").
    pooled: the activation is one vector per sample [B, d] (exposed as [B, 1, d]).
    """

    module: nn.Module
    kind: str
    tower: str
    get: Callable[[HookPayload], torch.Tensor]
    put: Callable[[HookPayload, torch.Tensor], HookPayload] | None
    pooled: bool = False
    needs_eager_attention: bool = False
    read_only_reason: str = ""


def first_tensor(out: ModuleOutput) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    raise SaekitError(f"module output of type {type(out).__name__} holds no tensor to hook")


def replace_first_tensor(out: ModuleOutput, new: torch.Tensor) -> ModuleOutput:
    if isinstance(out, torch.Tensor):
        return new
    if isinstance(out, tuple):
        return (new,) + tuple(out[1:])
    if isinstance(out, list):
        return [new] + list(out[1:])
    raise SaekitError(f"cannot replace the output of type {type(out).__name__}")


def input_hidden(payload: PreHookPayload) -> torch.Tensor:
    args, kwargs = payload
    if args:
        return args[0]
    if "hidden_states" in kwargs:
        return kwargs["hidden_states"]
    raise SaekitError("hooked module was called without a hidden-states input")


def replace_input_hidden(payload: PreHookPayload, new: torch.Tensor) -> PreHookPayload:
    args, kwargs = payload
    if args:
        return (new,) + tuple(args[1:]), kwargs
    return args, {**kwargs, "hidden_states": new}


def post_site(module: nn.Module, tower: str, pooled: bool = False, writable: bool = True) -> HookSite:
    return HookSite(module, "post", tower, first_tensor, replace_first_tensor if writable else None, pooled)


def pre_site(module: nn.Module, tower: str, writable: bool = True, reason: str = "") -> HookSite:
    return HookSite(module, "pre", tower, input_hidden, replace_input_hidden if writable else None,
                    read_only_reason=reason)


def format_names(names: Sequence[str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return shown + (f", ... ({more} more; list them all with --list-hooks)" if more > 0 else "")


class HookedModel:
    """Base class of the adapters. Subclasses set the attributes below and implement `_canonical_site`,
    `_run`, `prepare`, `forward` and `token_mask`.

    Attributes every adapter has: model_id, revision, modality ("image" | "text" | "image-text"),
    module (the root nn.Module that `module:<path>` resolves from), device, n_layers, d_model.
    Vision adapters add image_size, patch_size, patch_grid (rows, cols), n_prefix_tokens (CLS +
    registers) and preprocessing (dict); text adapters add tokenizer and max_length.
    """

    model_id: str = ""
    revision: str = ""
    modality: str = ""
    module: nn.Module
    n_layers: int = 0
    d_model: int = 0
    image_size: int | None = None
    patch_size: int | None = None
    patch_grid: tuple[int, int] | None = None
    n_prefix_tokens: int = 0
    preprocessing: dict = {}
    tokenizer: PreTrainedTokenizerBase | None = None
    max_length: int | None = None

    # ---- to implement -------------------------------------------------------------------------
    def hook_names(self) -> list[str]:
        raise NotImplementedError

    def _canonical_site(self, hook: str) -> HookSite | None:
        raise NotImplementedError

    def _run(self, inputs: Mapping[str, torch.Tensor], tower: str) -> ModuleOutput:
        raise NotImplementedError

    def _tower_of_module(self, path: str, inputs: Mapping[str, torch.Tensor] | None) -> str:
        return self.default_tower(inputs)

    def default_tower(self, inputs: Mapping[str, torch.Tensor] | None = None) -> str:
        raise NotImplementedError

    def prepare(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:

        raise NotImplementedError

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def token_mask(self, inputs: Mapping[str, torch.Tensor], select: str, hook: str | None = None) -> torch.Tensor:
        raise NotImplementedError

    # ---- shared -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        p = next(self.module.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        p = next(self.module.parameters(), None)
        return p.dtype if p is not None else torch.float32

    def resolve(self, hook: str) -> HookSite:
        """HookSite for `hook`, or SaekitError naming the valid hooks."""
        if hook.startswith("module:"):
            path = hook[len("module:"):]
            try:
                module = self.module.get_submodule(path)
            except AttributeError:
                raise SaekitError(f"hook {hook!r}: {self.model_id} has no submodule {path!r} "
                                  f"(module:<dotted.path> takes a name from model.named_modules())") from None
            return post_site(module, self._tower_of_module(path, None))
        site = self._canonical_site(hook)
        if site is None:
            raise SaekitError(f"unknown hook {hook!r} for {self.model_id}; valid hooks: "
                              f"{format_names(self.hook_names())} (or module:<dotted.path>)")
        return site

    def check_hooks(self, hooks: Sequence[str]) -> None:
        for hook in hooks:
            self.resolve(hook)

    def is_pooled(self, hook: str) -> bool:
        return self.resolve(hook).pooled

    def is_writable(self, hook: str) -> bool:
        return self.resolve(hook).put is not None

    def _tower_for(self, hook: str, site: HookSite, inputs: Mapping[str, torch.Tensor]) -> str:
        if hook.startswith("module:"):
            return self._tower_of_module(hook[len("module:"):], inputs)
        return site.tower

    @contextlib.contextmanager
    def _attention_weights(self, needed: bool) -> Iterator[None]:
        """Adapters whose attention only returns weights in eager mode override this."""
        yield

    def capture(self, inputs: Mapping[str, torch.Tensor], hooks: Sequence[str]) -> dict[str, torch.Tensor]:
        """{hook: Tensor[B, T, d]} ([B, H, T, T] for attn.hook_pattern, [B, 1, d] for pooled hooks).
        The forward pass stops once the deepest requested hook has fired."""
        hooks = list(dict.fromkeys(hooks))
        if not hooks:
            raise SaekitError("capture needs at least one hook")
        sites = {h: self.resolve(h) for h in hooks}
        by_tower: dict[str, list[str]] = {}
        for h, site in sites.items():
            by_tower.setdefault(self._tower_for(h, site, inputs), []).append(h)
        out: dict[str, torch.Tensor] = {}
        for tower, names in by_tower.items():
            remaining = set(names)
            handles = []

            def make(name: str, site: HookSite):
                def grab(payload: HookPayload) -> None:
                    if name not in remaining:
                        return
                    value = site.get(payload)
                    if value is None:
                        raise SaekitError(f"hook {name!r} produced no tensor (attention weights need eager attention)")
                    out[name] = value.detach().unsqueeze(1) if site.pooled and value.dim() == 2 else value.detach()
                    remaining.discard(name)
                    if not remaining:
                        raise _StopForward

                if site.kind == "pre":
                    return site.module.register_forward_pre_hook(lambda mod, args, kwargs: grab((args, kwargs)),
                                                                 with_kwargs=True)
                return site.module.register_forward_hook(lambda mod, args, output: grab(output))

            try:
                for name in names:
                    handles.append(make(name, sites[name]))
                with torch.no_grad(), self._attention_weights(any(sites[n].needs_eager_attention for n in names)):
                    self._run(inputs, tower)
            except _StopForward:
                pass
            finally:
                for handle in handles:
                    handle.remove()
            if remaining:
                raise SaekitError(f"hooks {sorted(remaining)} were not reached by a {tower} forward pass of {self.model_id}")
        return {h: out[h] for h in hooks}

    @contextlib.contextmanager
    def hooks(self, fns: Mapping[str, Callable[[torch.Tensor], torch.Tensor]]) -> Iterator["HookedModel"]:
        """Within the block, fn(act[B, T, d]) -> act[B, T, d] replaces the activation at each hook
        (pooled hooks get [B, 1, d]). Read-only hooks raise SaekitError."""
        handles = []
        try:
            for hook, fn in fns.items():
                site = self.resolve(hook)
                if site.put is None:
                    why = site.read_only_reason or "it is observed, not part of the computation graph"
                    raise SaekitError(f"hook {hook!r} is read-only for {self.model_id}: {why}; "
                                      f"replace blocks.{{i}}.hook_resid_pre/hook_resid_post or blocks.{{i}}.mlp.hook_post instead")
                handles.append(self._register_replacement(hook, site, fn))
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def _register_replacement(self, hook: str, site: HookSite, fn: Callable[[torch.Tensor], torch.Tensor]):
        def apply(payload: HookPayload) -> HookPayload:
            value = site.get(payload)
            shaped = value.unsqueeze(1) if site.pooled and value.dim() == 2 else value
            new = fn(shaped)
            if not isinstance(new, torch.Tensor) or new.shape != shaped.shape:
                got = tuple(new.shape) if isinstance(new, torch.Tensor) else type(new).__name__
                raise SaekitError(f"replacement at {hook!r} must return a tensor of shape {tuple(shaped.shape)}, got {got}")
            if shaped is not value:
                new = new.squeeze(1)
            return site.put(payload, new.to(value.dtype))

        if site.kind == "pre":
            return site.module.register_forward_pre_hook(lambda mod, args, kwargs: apply((args, kwargs)), with_kwargs=True)
        return site.module.register_forward_hook(lambda mod, args, output: apply(output))

    def describe(self) -> dict:
        """What a store records about the model (attributes for /)."""
        info: dict[str, object] = {"model_id": self.model_id, "model_revision": self.revision or "",
                                "modality": self.modality, "n_layers": self.n_layers, "d_model": self.d_model}
        if self.patch_grid is not None:
            info.update(image_size=self.image_size, patch_size=self.patch_size, patch_grid=list(self.patch_grid),
                        n_prefix_tokens=self.n_prefix_tokens)
        if self.preprocessing:
            info["preprocessing"] = dict(self.preprocessing)
        if self.max_length is not None:
            info["max_length"] = self.max_length
        return info


def check_selection(select: str) -> None:
    if select not in TOKEN_SELECTIONS:
        raise SaekitError(f"token selection {select!r} is not one of {', '.join(TOKEN_SELECTIONS)}")
