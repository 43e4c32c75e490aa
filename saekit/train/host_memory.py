"""Keep freed host memory in the process during CPU training (glibc's malloc, where it is the allocator).

A CPU step allocates and frees tensors of a few MB (a 4096 x 384 float32 tensor is 6 MB) dozens
of times. glibc serves blocks above its mmap threshold with fresh mmaps and returns freed heap
tops to the kernel, so each such tensor pays a page fault per 4 KB page on first touch: about
10% of a TopK step on a 2-core CPU (docs/performance.md). Raising the mmap threshold to its
maximum (32 MiB) and the trim threshold to 1 GiB lets the heap reuse those pages instead. The
cost is that up to 1 GiB of freed memory stays with the process until it exits.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's upper limit on 64-bit
TRIM_THRESHOLD_BYTES = 1 << 30

_done = False


def keep_freed_host_memory() -> bool:
    """Set the thresholds once per process; True when glibc accepted both (False elsewhere, harmless)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    log.debug("malloc thresholds for CPU training: %s", "set" if ok else "refused")
    _done = ok
    return ok
