"""What an analysis pass checks before it starts: the store opened, the hook chosen, the SAE's shape
matching the store."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.sae import SAE
    from stores import ActivationStore


def open_store(store: "str | os.PathLike | ActivationStore", sae: "SAE | None" = None) -> "ActivationStore":
    """The store itself, or the store opened from a path; for a crosscoder ``sae``, with its hooks' rows
    side by side under its joined hook name (saekit.inputs.joined_store)."""
    from saekit.inputs.joined_store import with_crosscoder_rows

    if isinstance(store, (str, os.PathLike)):
        from stores import ActivationStore

        store = ActivationStore.open(store)
    return with_crosscoder_rows(sae, store) if sae is not None else store


def resolve_hook(sae: "SAE", store: "ActivationStore", hook: str | None) -> str:
    """The hook to use: the given one, else the SAE's own, else the store's only hook; SaekitError otherwise."""
    if hook is None:
        hook = getattr(getattr(sae, "cfg", None), "hook", None)
        if not hook or hook not in store.hooks:
            if len(store.hooks) == 1:
                hook = list(store.hooks)[0]
            else:
                raise SaekitError(f"say which hook to use (--hook); the store has {sorted(store.hooks)}")
    if hook not in store.hooks:
        raise SaekitError(f"hook {hook!r} is not in the store (it has {sorted(store.hooks)})")
    return hook


def sae_dims(sae: "SAE") -> tuple[int, int]:
    """(d_in, d_sae) of an SAE: its config's, else read from its encoder [d_sae, d_in] (a transcoder's decoder
    writes another width)."""
    cfg = getattr(sae, "cfg", None)
    if cfg is not None and getattr(cfg, "d_in", None) and getattr(cfg, "d_sae", None):
        return int(cfg.d_in), int(cfg.d_sae)
    d_sae, d_in = (int(x) for x in sae.W_dec.shape)
    return d_in, d_sae


def check_sae_matches_store(sae: "SAE", store: "ActivationStore", hook: str) -> None:
    """SaekitError when the SAE's input dimension differs from the store hook's."""
    d_in, _ = sae_dims(sae)
    d = int(store.d(hook))
    if d != d_in:
        raise SaekitError(
            f"the SAE expects inputs of dimension {d_in} but store hook {hook!r} has dimension {d}; "
            "use the SAE trained on this hook")
