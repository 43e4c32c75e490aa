"""`saekit export`: write an SAE (saekit's own or any loadable spec) as a SAELens, sparsify or
dictionary_learning checkpoint that opens in that library and computes the same function."""
from __future__ import annotations

import argparse

HELP = "export an SAE to the SAELens, sparsify or dictionary_learning checkpoint format"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sae", required=True,
                   help="SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, "
                        "gemmascope:; PATH may be hf:<repo>[@rev]/<path>)")
    p.add_argument("--format", required=True, choices=["saelens", "sparsify", "dictlearn"], help="format to write")
    p.add_argument("--out", required=True, help="new (or empty) output directory")


def run(args: argparse.Namespace) -> int:
    from saekit.sae.formats import ExportConfig, export

    out = export(ExportConfig(sae=args.sae, format=args.format, out=args.out))
    print(f"wrote {out} ({args.format})")
    return 0
