"""`torchrun --nproc-per-node N -m saekit.train --store ... --hook ... --arch ... --tokens ... --out ...`.

The same flags as `saekit train`; each rank reads its partitions of the store, gradients are
all-reduced (gloo on CPU, nccl on CUDA) and rank 0 writes the checkpoint.
"""
from __future__ import annotations

import argparse
import logging
import sys

from saekit.cli import train_cmd
from saekit.errors import SaekitError
from stores.errors import StoreError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saekit.train", description=train_cmd.HELP)
    train_cmd.add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return train_cmd.run(args)
    except (SaekitError, StoreError) as exc:
        print(f"saekit train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
