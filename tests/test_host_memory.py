"""CPU training keeps freed host memory: a re-allocated step-sized tensor costs no new page faults."""
import resource
import sys

import pytest
import torch

from saekit.train.host_memory import keep_freed_host_memory

PAGES = (6 << 20) // 4096  # a 4096 x 384 float32 tensor


def _faults_for(cycles: int) -> int:
    """Minor page faults of a step-like pattern: several such tensors alive at once, then all freed
    (the freed heap top then exceeds glibc's default trim threshold and goes back to the kernel)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(cycles):
        alive = [torch.empty(4096, 384) for _ in range(6)]
        for t in alive:
            t.fill_(1.0)  # touch every page
        del alive, t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_reallocating_a_step_sized_tensor_reuses_its_pages():
    assert keep_freed_host_memory()
    _faults_for(40)  # the heap grows to hold it
    assert _faults_for(20) < PAGES // 2  # without the thresholds: thousands of pages per cycle
