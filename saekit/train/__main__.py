"""`torchrun --nproc-per-node N -m saekit.train --store ... --hook ... --arch ... --tokens ... --out ...` is
`saekit train ...` (spelt `torchrun ... -m saekit train ...` too): the same flags, summary and exit codes;
each rank reads its partitions of the store, gradients are all-reduced (gloo on CPU, nccl on CUDA) and
rank 0 writes the checkpoint.

The CLI sits ten floors above training, so it is named here only as the module `python -m` runs (as the
command table names the dashboard), never imported.
"""
import runpy
import sys

if __name__ == "__main__":
    sys.argv[1:1] = ["train"]
    runpy.run_module("saekit", run_name="__main__", alter_sys=True)
