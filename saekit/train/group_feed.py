"""One read per latent group: with --shard-latents every rank of a group trains on the same batch, so
only the group's first rank reads the store; it broadcasts each batch (and the stream position it
leaves the stream at) to the others, which never open a feed. A store on object storage is then read
once per group, not once per rank.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from saekit.common.errors import SaekitError
from saekit.train.feed import BatchFeed, DeviceBatch

if TYPE_CHECKING:
    from saekit.train.shard_latents import LatentSharding


ROW_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # a batch's rows come in the store's dtype


class GroupFeed:
    """The group's first rank's feed, broadcast to the group (see the module docstring)."""

    def __init__(self, feed: BatchFeed | None, group: dist.ProcessGroup, d: int, device: torch.device) -> None:
        self.feed, self.group, self.d, self.device = feed, group, d, device
        self.first = dist.get_global_rank(group, 0)

    def __next__(self) -> DeviceBatch:
        meta = torch.zeros(5, dtype=torch.int64, device=self.device)  # epoch, position, rows, dtype, verify pending
        b = None
        if self.feed is not None:
            b = next(self.feed)
            meta = torch.tensor([b.epoch, b.position, b.x.shape[0], ROW_DTYPES.index(b.x.dtype), b.verify is not None],
                                device=self.device)
        dist.broadcast(meta, src=self.first, group=self.group)
        epoch, position, rows, dtype, pending = (int(v) for v in meta.tolist())
        x = b.x.contiguous() if b is not None else torch.empty(rows, self.d, dtype=ROW_DTYPES[dtype], device=self.device)
        wire = x.view(torch.int16) if x.dtype == torch.bfloat16 else x  # bf16 travels as its bits
        dist.broadcast(wire, src=self.first, group=self.group)
        verify = self._verify(b.verify if b is not None else None) if pending else None
        return DeviceBatch(x, epoch, position, verify=verify)

    def _verify(self, check: Callable[[], None] | None) -> Callable[[], None]:
        """Every rank of the group calls it together (their losses are one loss): the first rank's check
        names the bad rows, the others learn whether it found any."""

        def verify() -> None:
            bad = torch.zeros(1, dtype=torch.int64, device=self.device)
            error: SaekitError | None = None
            if check is not None:
                try:
                    check()
                except SaekitError as exc:
                    error, bad[0] = exc, 1
            dist.broadcast(bad, src=self.first, group=self.group)
            if error is not None:
                raise error
            if int(bad[0]):
                raise SaekitError(f"the batch holds NaN or Inf rows (rank {self.first} names them)")

        return verify

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()


def group_feed(open_feed: Callable[[], BatchFeed], sharding: LatentSharding | None, d: int, device: torch.device) -> BatchFeed:
    """open_feed() for an unsharded run; for a latent-sharded one, the group's first rank's feed broadcast."""
    if sharding is None:
        return open_feed()
    groups = sharding.groups
    return GroupFeed(open_feed() if groups.index == 0 else None, groups.latent_group, d, device)
