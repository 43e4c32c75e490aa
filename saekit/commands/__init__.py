"""The commands: each is one library function taking one frozen config dataclass and returning one
result, and the CLI (`saekit COMMAND --flags`) is generated from the config's fields.

The command table is data, ``commands.json`` beside this file; adding a command is one entry
there (or a ``register`` call): its name, its config class and function as ``"module:attribute"``
strings (imported only when the command runs, so ``saekit --help`` stays instant), a one-line
help, its printed summary, and optionally

- ``summary``: ``"module:function"``, ``summarize(result, config) -> None`` prints the CLI's summary
  of the result (the command folder's ``summary.py``), ``""`` for none;
- ``json=True``: the command gets ``--json``, which prints the result as one JSON object instead
  (``result.to_json()`` when the result has it, else the result itself);
- ``shortcuts``: flags that do something else with a few of the config's fields and exit (e.g.
  ``capture --list-hooks`` needs only ``--model``); fields without a default are then required
  only when no shortcut is given.

A name with a space (``"store info"``) is an action of a command group (``saekit store info``);
the group's own help is in ``GROUPS`` (the table's ``groups``). The dashboard sits a layer above
saekit (docs/architecture.md): its config and function live in dashboards/ and are named in the
table only as strings, with ``requires: "dashboards"`` (no saekit module imports dashboards; the
command is left out of the CLI when that package is not installed).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any, Callable

#: the keys an entry of the table may have (``shortcuts`` aside)
ENTRY_KEYS = ("name", "config", "function", "help", "summary", "json", "requires")


def resolve(ref: str) -> Any:  # Any: whatever object the reference names
    """The object named by ``"module:attribute"``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclasses.dataclass(frozen=True)
class Shortcut:
    flag: str                   # e.g. "--list-hooks"
    help: str
    function: str               # "module:function", called with the config fields named in `fields`
    fields: tuple[str, ...]     # config fields passed to it as keyword arguments


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    config: str                 # "module:ConfigClass"
    function: str               # "module:function", called as function(config) -> result
    help: str
    summary: str                # "module:function", called as summarize(result, config) after a CLI run ("": none)
    json: bool = False          # give the command --json (print the result as JSON instead of the summary)
    shortcuts: tuple[Shortcut, ...] = ()
    requires: str | None = None  # a top-level package the command needs; left out of the CLI without it

    def config_class(self) -> type:
        return resolve(self.config)

    def run(self, config: Any) -> Any:  # Any: each command has its own config and result types
        fn: Callable[[Any], Any] = resolve(self.function)
        return fn(config)

    def print_summary(self, result: Any, config: Any) -> None:  # Any: as in run
        if self.summary:
            resolve(self.summary)(result, config)


COMMANDS: dict[str, Command] = {}
#: command groups (the first word of a command name with a space) -> their one-line help
GROUPS: dict[str, str] = {}


def register(name: str, config: str, function: str, help: str, summary: str, *, json: bool = False,
             shortcuts: tuple[Shortcut, ...] = (), requires: str | None = None) -> Command:
    """Add a command (replacing one of the same name)."""
    COMMANDS[name] = Command(name, config, function, help, summary, json, shortcuts, requires)
    return COMMANDS[name]


def read_table(path: Path) -> tuple[dict[str, str], list[Command]]:
    """The groups and commands of a command table file (``commands.json``)."""
    table = json.loads(path.read_text(encoding="utf-8"))
    commands = []
    for entry in table["commands"]:
        unknown = sorted(set(entry) - {*ENTRY_KEYS, "shortcuts"})
        if unknown or "summary" not in entry:
            raise ValueError(f"{path.name}: entry {entry.get('name')!r}: " + (
                f"unknown keys {unknown}" if unknown else "no 'summary'") + " (the keys are "
                f"{', '.join(ENTRY_KEYS)}, shortcuts; 'summary' names the printed summary, \"\" for none)")
        shortcuts = tuple(Shortcut(s["flag"], s["help"], s["function"], tuple(s["fields"]))
                          for s in entry.pop("shortcuts", ()))
        commands.append(Command(**entry, shortcuts=shortcuts))
    return table["groups"], commands


def _load_table() -> None:
    """Register every command of ``commands.json`` (the table beside this file)."""
    groups, commands = read_table(Path(__file__).with_name("commands.json"))
    GROUPS.update(groups)
    for command in commands:
        COMMANDS[command.name] = command


_load_table()
