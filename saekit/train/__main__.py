"""`torchrun --nproc-per-node N -m saekit.train --store ... --hook ... --arch ... --tokens ... --out ...`.

The same flags as `saekit train`; each rank reads its partitions of the store, gradients are
all-reduced (gloo on CPU, nccl on CUDA) and rank 0 writes the checkpoint.
"""
from __future__ import annotations

import sys

from saekit.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
