"""A crosscoder's rows for the analysis passes (summaries, name, explain, the dashboard).

A crosscoder's latents are shared: its encoder reads the rows of all its hooks side by side, so a
latent's activation on a token is one number whichever hook is looked at. `JoinedHooksStore` shows
a store with one more hook, the crosscoder's joined name (``cfg.hook``, its hooks joined by commas),
whose row i is row i of each of its hooks concatenated, in the order the crosscoder was trained on
(checked aligned, as training checks them). Everything else is the store's own, so windows, sample
texts and images come from the store unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.sae import SAE
    from stores import ActivationStore
    from stores.batching import Batch


class JoinedHooksStore:
    """``store`` with the extra hook ``name``: the rows of ``hooks`` side by side."""

    def __init__(self, store: "ActivationStore", name: str, hooks: tuple[str, ...]):
        from saekit.train.paired import check_aligned

        self._store, self.joined_name, self.joined_hooks = store, name, hooks
        self._n = check_aligned(store, hooks)

    def __getattr__(self, attr: str) -> Any:  # whatever the wrapped store has under that name
        return getattr(self._store, attr)

    def __enter__(self) -> "JoinedHooksStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()

    @property
    def hooks(self) -> list[str]:
        return [*self._store.hooks, self.joined_name]

    def n_rows(self, hook: str) -> int:
        return self._n if hook == self.joined_name else int(self._store.n_rows(hook))

    def d(self, hook: str) -> int:
        if hook == self.joined_name:
            return sum(int(self._store.d(h)) for h in self.joined_hooks)
        return int(self._store.d(hook))

    def read_rows(self, hook: str, start: int, stop: int) -> np.ndarray:
        if hook != self.joined_name:
            return self._store.read_rows(hook, start, stop)
        return np.concatenate([np.asarray(self._store.read_rows(h, start, stop), dtype=np.float32)
                               for h in self.joined_hooks], axis=1)

    def read_index(self, hook: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return self._store.read_index(self.joined_hooks[0] if hook == self.joined_name else hook, start, stop)

    def iter_batches(self, hook: str, batch_size: int, shuffle: bool = False, with_index: bool = False,
                     **kwargs: object) -> Iterator["Batch"]:
        if hook != self.joined_name:
            yield from self._store.iter_batches(hook, batch_size, shuffle=shuffle, with_index=with_index, **kwargs)
            return
        if shuffle or kwargs.get("world_size", 1) != 1:
            raise SaekitError(f"a crosscoder's joined rows {hook!r} are read in store order by one process only")
        for start in range(0, self._n, batch_size):
            stop = min(self._n, start + batch_size)
            acts = self.read_rows(hook, start, stop)
            yield (acts, *self.read_index(hook, start, stop)) if with_index else acts


def with_crosscoder_rows(sae: "SAE", store: "ActivationStore") -> "ActivationStore":
    """``store`` as a crosscoder reads it (JoinedHooksStore), or ``store`` itself for any other SAE."""
    cfg = getattr(sae, "cfg", None)
    hooks = tuple(getattr(cfg, "in_hooks", ()) or ())
    if len(hooks) < 2 or isinstance(store, JoinedHooksStore) or cfg.hook in store.hooks:
        return store
    return JoinedHooksStore(store, cfg.hook, hooks)  # type: ignore[return-value]
