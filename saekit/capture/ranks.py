"""Which slice of the dataset this process captures, and where it writes.

Under torchrun (RANK and WORLD_SIZE set) rank r captures samples i with i % world == r into
OUT/shard-{r:05d}.h5; the last rank to finish writes OUT/manifest.json, so the directory reads as
one store holding every sample exactly once. No process group is needed.
"""
from __future__ import annotations

import fcntl
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from saekit.common.errors import SaekitError

log = logging.getLogger(__name__)


def rank_and_world() -> tuple[int, int]:
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise SaekitError("RANK and WORLD_SIZE must be integers when set (torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world:
        raise SaekitError(f"RANK={rank} is not in [0, WORLD_SIZE={world})")
    return rank, world


def output_path(out: str | os.PathLike, rank: int, world: int) -> Path:
    out = Path(out)
    if world == 1:
        if out.is_dir():
            raise SaekitError(f"--out {out} is a directory; a single-process capture writes one .h5 file")
        return out
    if out.exists() and not out.is_dir():
        raise SaekitError(f"--out {out} is a file; a capture with WORLD_SIZE={world} writes a shard directory")
    from stores import shard_path

    return shard_path(out, rank)


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".capture.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def finish_shards(directory: Path, world: int) -> bool:
    """Write the manifest if every rank's shard is complete; True when this call wrote it."""
    from stores import ActivationStore, StoreError, shard_path, write_manifest

    with directory_lock(directory):
        names = []
        for r in range(world):
            p = shard_path(directory, r)
            if not p.is_file():
                return False
            try:
                with ActivationStore.open(p) as s:
                    if not s.complete:
                        return False
            except StoreError:
                return False
            names.append(p.name)
        write_manifest(directory, names)
    log.info("all %d shards complete: wrote %s", world, directory / "manifest.json")
    return True
