"""`saekit` entry point: the CLI generated from the command registry (``saekit.commands``).

Each command's flags come from its config dataclass (``saekit.cli.configcli``); only the command
being run has its config imported, so ``saekit --help`` and argument errors stay instant and no
``--help`` imports torch. After the run, ``--json`` (for commands registered with ``json=True``)
prints the result as one JSON object, otherwise the summary named by the command's table entry.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
from typing import Any

from saekit.commands import COMMANDS, GROUPS, Command
from saekit.common.errors import SaekitError
from stores.errors import StoreError

#: the order `saekit --help` lists commands in (commands not named here come after, as registered)
ORDER = ("store", "capture", "train", "eval", "compare", "align", "name", "quickstart", "audit", "artifacts", "steer",
         "explain", "export", "dashboard")


def _words(argv: list[str]) -> list[str]:
    """The arguments of ``argv`` that are not options (the command word, a group's action, ...)."""
    return [a for a in argv if not a.startswith("-")]


def _available(command: Command) -> bool:
    return command.requires is None or importlib.util.find_spec(command.requires) is not None


def _add_command(sub: Any, word: str, command: Command, chosen: bool) -> None:
    p = sub.add_parser(word, help=command.help, description=command.help)
    if not chosen:
        return
    from saekit.cli.configcli import add_config_arguments

    cls = command.config_class()
    add_config_arguments(p, cls, required=not command.shortcuts)
    if _reads_stores(command, cls):  # where chunks of stores on object storage are cached (stores.remote_cache)
        import dataclasses

        own = {f.name for f in dataclasses.fields(cls)}
        prefix = "--store-" if own & {"cache_dir", "cache_size"} else "--"  # explain's --cache-dir is its response cache
        p.add_argument(f"{prefix}cache-dir", dest="store_cache_dir", metavar="DIR", default=None, help="local directory caching chunks "
                       "of stores on object storage (s3://...; default $SAEKIT_CACHE_DIR, else no disk cache)")
        p.add_argument(f"{prefix}cache-size", dest="store_cache_size", metavar="GIB", type=float, default=None,
                       help="GiB that directory may hold (default $SAEKIT_CACHE_GB, else 10)")
    for s in command.shortcuts:
        p.add_argument(s.flag, action="store_true", help=s.help)
    if command.json:
        p.add_argument("--json", action="store_true", help="print the result as one JSON object instead of the summary")
    p.set_defaults(_command=command, _config=cls)


#: commands whose store is not a `store` field: their path or --out is one
STORE_PATH_COMMANDS = ("capture", "store info", "store verify")


def _reads_stores(command: Command, cls: type) -> bool:
    """Commands with a store argument (or capture's output) get the object-storage cache flags."""
    import dataclasses

    return command.name in STORE_PATH_COMMANDS or any(f.name == "store" for f in dataclasses.fields(cls))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; a command gets its flags only when ``argv`` names it (None: every command)."""
    words = None if argv is None else _words(argv)
    parser = argparse.ArgumentParser(prog="saekit", description="Sparse autoencoders for transformer activations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    heads = list(dict.fromkeys(name.split(" ")[0] for name, c in COMMANDS.items() if _available(c)))
    for head in [h for h in ORDER if h in heads] + [h for h in heads if h not in ORDER]:
        chosen = words is None or (bool(words) and words[0] == head)
        if head in COMMANDS:
            _add_command(sub, head, COMMANDS[head], chosen)
            continue
        group = sub.add_parser(head, help=GROUPS.get(head, ""), description=GROUPS.get(head, ""))
        actions = group.add_subparsers(dest=f"{head}_action", metavar="ACTION", required=True)
        for name, command in COMMANDS.items():
            if name.split(" ")[0] == head:
                action = name.split(" ", 1)[1]
                _add_command(actions, action, command, chosen and (words is None or words[1:2] == [action]))
    return parser


def to_json(result: object) -> object:
    """What ``--json`` prints for a result: its ``to_json()`` when it has one, else the result."""
    return result.to_json() if hasattr(result, "to_json") else result


def _run(args: argparse.Namespace) -> int:
    from saekit.cli.configcli import config_from_args, missing_flags

    command: Command = args._command
    for s in command.shortcuts:
        if getattr(args, s.flag.lstrip("-").replace("-", "_")):
            from saekit.commands import resolve

            resolve(s.function)(**{f: getattr(args, f) for f in s.fields})
            return 0
    missing = missing_flags(args._config, args) if command.shortcuts else []
    if missing:
        only = " or ".join(s.flag for s in command.shortcuts)
        raise SaekitError(f"missing {', '.join(missing)} (only {only} works without them)")
    if getattr(args, "store_cache_dir", None) is not None or getattr(args, "store_cache_size", None) is not None:
        from stores.remote_cache import configure

        configure(args.store_cache_dir, args.store_cache_size)
    cfg = config_from_args(args._config, args)
    result = command.run(cfg)
    if getattr(args, "json", False):
        print(json.dumps(to_json(result), default=str))
    else:
        command.print_summary(result, cfg)
    return 0


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
