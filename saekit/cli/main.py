"""`saekit` entry point.

Each subcommand lives in its own module exposing ``HELP: str``, ``add_arguments(parser)`` and
``run(args) -> int``. Subcommand modules import torch and friends inside ``run`` so that
``saekit --help`` and argument errors stay instant.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from stores.errors import StoreError
from saekit.errors import SaekitError

COMMANDS: dict[str, str] = {
    "store": "saekit.cli.store_cmd",
    "capture": "saekit.cli.capture_cmd",
    "train": "saekit.cli.train_cmd",
    "eval": "saekit.cli.eval_cmd",
    "compare": "saekit.cli.compare_cmd",
    "align": "saekit.cli.align_cmd",
    "name": "saekit.cli.name_cmd",
    "quickstart": "saekit.cli.quickstart_cmd",
    "audit": "saekit.cli.audit_cmd",
    "artifacts": "saekit.cli.artifacts_cmd",
    "steer": "saekit.cli.steer_cmd",
    "explain": "saekit.cli.explain_cmd",
    # The dashboard sits a layer above saekit (DESIGN.md), so its command lives in dashboards/
    # and is found by name here: no saekit module imports dashboards.
    "dashboard": "dashboards.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saekit", description="Sparse autoencoders for transformer activations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # subcommand not part of this build
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args) or 0)
    except (SaekitError, StoreError) as exc:
        print(f"saekit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"saekit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
