"""`saekit` entry point.

Commands registered in ``saekit.commands`` (a config dataclass + a library function) get their
flags generated from the config (``saekit.cli.configcli``); only the command being run has its
config imported, so ``saekit --help`` and argument errors stay instant. Commands not yet in the
registry live in modules exposing ``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from saekit.commands import COMMANDS as REGISTERED
from saekit.errors import SaekitError
from stores.errors import StoreError

MODULES: dict[str, str] = {
    "store": "saekit.cli.store_cmd",
    "capture": "saekit.cli.capture_cmd",
    "eval": "saekit.cli.eval_cmd",
    "audit": "saekit.cli.audit_cmd",
    "artifacts": "saekit.cli.artifacts_cmd",
    "steer": "saekit.cli.steer_cmd",
    # The dashboard sits a layer above saekit (docs/architecture.md), so its command lives in
    # dashboards/ and is found by name here: no saekit module imports dashboards.
    "dashboard": "dashboards.cli",
}


#: the order `saekit --help` lists commands in (commands not named here come after, as registered)
ORDER = ("store", "capture", "train", "eval", "compare", "align", "name", "quickstart", "audit", "artifacts", "steer",
         "explain", "dashboard")


def _chosen(argv: list[str]) -> str | None:
    """The command word of ``argv`` (the first argument that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; registered commands get their flags only when ``argv`` names them (None: all)."""
    from saekit.cli.configcli import add_config_arguments

    chosen = None if argv is None else _chosen(argv)
    parser = argparse.ArgumentParser(prog="saekit", description="Sparse autoencoders for transformer activations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    names = [n for n in ORDER if n in REGISTERED or n in MODULES]
    names += [n for n in [*REGISTERED, *MODULES] if n not in names]
    for name in names:
        command = REGISTERED.get(name)
        if command is not None:
            p = sub.add_parser(name, help=command.help, description=command.help)
            if argv is None or name == chosen:
                cls = command.config_class()
                add_config_arguments(p, cls)
                p.set_defaults(_command=command, _config=cls)
            continue
        module_name = MODULES[name]
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


def _run(args: argparse.Namespace) -> int:
    if hasattr(args, "_command"):
        from saekit.cli.configcli import config_from_args

        cfg = config_from_args(args._config, args)
        result = args._command.run(cfg)
        args._command.print_report(result, cfg)
        return 0
    return int(args._run(args) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except (SaekitError, StoreError) as exc:
        print(f"saekit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"saekit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
