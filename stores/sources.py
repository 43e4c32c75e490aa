"""What the helpers around a store (split views, the dominance check) need from a source of
activation rows: an ActivationStore, a SplitView of one, or any object with the same batch API."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Mapping, Protocol

import numpy as np

if TYPE_CHECKING:
    from stores.batching import Batch
    from stores.stats import HookStats


class RowSource(Protocol):
    """The batch API of stores.ActivationStore that a view over it passes on."""

    hooks: list[str]
    attrs: Mapping[str, object]

    def d(self, hook: str) -> int: ...
    def n_rows(self, hook: str) -> int: ...
    def stats(self, hook: str) -> HookStats: ...
    def iter_batches(self, hook: str, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                     with_index: bool = False, **kw: object) -> Iterator[Batch]: ...
    def row_order(self, hook: str, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                  **kw: object) -> Iterator[np.ndarray]: ...
