"""Command-line flags generated from a frozen config dataclass: one source for flags, defaults and help.

For each field (fields of a nested dataclass are flattened in):

- the flag is ``--field-name`` (metadata ``flag`` overrides it; ``positional=True`` makes it a
  positional argument); no default (or metadata ``required=True``) -> required;
- help is metadata ``help``, else the ``# comment`` on the field's line in the source of the class
  that defines it;
- ``bool`` -> ``--flag`` / ``--no-flag``; ``Literal[...]`` or metadata ``choices`` -> choices;
- ``X | None`` -> X, where ``none`` (and ``auto`` for numbers) also mean None;
- ``tuple[X, ...]`` -> a repeatable flag; numbers may also be given comma-separated (``--p 1,2 --p 3``);
- ``dict`` -> a JSON object; metadata ``parse`` -> a callable that turns the string into the value;
- metadata ``cli=False`` leaves a field out (it keeps its default).

"Metadata" is the field's ``dataclasses.field(metadata=...)``, updated by the config class's
``CLI: ClassVar[dict[str, dict]]`` (field name -> metadata; a subclass's entries win), so a config
can give an inherited field its flag name, choices or help without touching the base class.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import json
import re
import sys
import types
import typing
from typing import Any, Callable, Literal, TypeVar

NONE_WORDS = ("none", "None")
C = TypeVar("C")  # a config dataclass


@dataclasses.dataclass(frozen=True)
class Flag:
    """One generated flag: where its value goes (``path``: field names from the top config down)."""

    path: tuple[str, ...]
    flag: str
    kwargs: dict[str, Any]


@functools.lru_cache(maxsize=None)
def _own_comments(cls: type) -> dict[str, str]:
    """Trailing ``# comment`` of each field line in the body of ``cls`` itself."""
    try:
        lines = inspect.getsourcelines(cls)[0]
    except (OSError, TypeError):
        return {}
    out = {}
    for line in lines:
        m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.+)$", line.rstrip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).strip()
    return out


def _comments(cls: type) -> dict[str, str]:
    """Field comments of ``cls`` and its dataclass bases (a subclass's own comment wins)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            out.update(_own_comments(klass))
    return out


def field_metadata(cls: type, f: dataclasses.Field) -> dict[str, Any]:  # Any: a flag's help, name, parser, ...
    """The field's metadata updated by the ``CLI`` class attributes of ``cls`` and its bases."""
    meta = dict(f.metadata)
    for klass in reversed(cls.__mro__):
        meta.update(vars(klass).get("CLI", {}).get(f.name, {}))
    return meta


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(tp)):
            return args[0], True
    return tp, False


def _scalar_parser(tp: Any, optional: bool, name: str) -> tuple[Callable[[str], Any], str]:
    """(parse function, metavar) for a scalar type."""
    base = {int: int, float: float, str: str}.get(tp)
    if base is None:
        raise TypeError(f"config field {name!r}: no command-line form for type {tp!r}")

    def parse(text: str) -> Any:
        if optional and (text in NONE_WORDS or (base is not str and text == "auto")):
            return None
        try:
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {base.__name__}, got {text!r}") from None

    return parse, base.__name__.upper() if base is not str else "TEXT"


def _split_numbers(parse: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def many(text: str) -> list[Any]:
        return [parse(p.strip()) for p in text.split(",") if p.strip()]
    return many


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def config_flags(cls: type, prefix: tuple[str, ...] = ()) -> list[Flag]:
    """The flags of config dataclass ``cls`` (nested dataclass fields flattened)."""
    hints = typing.get_type_hints(cls)
    comments = _comments(cls)
    out: list[Flag] = []
    for f in dataclasses.fields(cls):
        meta = field_metadata(cls, f)
        if not f.init or meta.get("cli", True) is False:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            out.extend(config_flags(tp, prefix + (f.name,)))
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = meta.get("help") or comments.get(f.name) or ""
        kw: dict[str, Any] = {"dest": "__".join(prefix + (f.name,)), "default": default}
        if not has_default or meta.get("required"):
            kw["required"] = True
        elif default is not None and default is not False and default != () and default != {}:
            help_text = f"{help_text} (default: {default})" if help_text else f"default: {default}"
        origin = typing.get_origin(tp)
        if "join" in meta:  # a str field given by a repeatable flag, its values joined (e.g. several hooks)
            kw["action"], kw["type"], kw["metavar"] = "append", str, "TEXT"
            help_text = (help_text + "; " if help_text else "") + "repeatable"
        elif "parse" in meta:
            kw["type"] = meta["parse"]
        elif tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif origin is Literal:
            kw["choices"] = list(typing.get_args(tp))
        elif origin is tuple:
            item = typing.get_args(tp)[0]
            parse, metavar = _scalar_parser(item, False, f.name)
            kw["action"] = "extend"
            kw["type"] = _split_numbers(parse) if item in (int, float) else (lambda s, p=parse: [p(s)])
            kw["metavar"] = metavar
            kw["default"] = None
            help_text = (help_text + "; " if help_text else "") + "repeatable"
        elif tp is dict or origin is dict:
            kw["type"] = _json_object
            kw["metavar"] = "JSON"
        else:
            kw["type"], kw["metavar"] = _scalar_parser(tp, optional, f.name)
        if "choices" in meta:
            kw["choices"] = list(meta["choices"])
        if "choices" in kw:
            kw.pop("metavar", None)
        kw["help"] = help_text.replace("%", "%%")
        if meta.get("positional"):
            flag = kw.pop("dest")
            kw.pop("required", None)
            kw["metavar"] = meta.get("metavar", f.name.upper())
        elif "metavar" in meta:
            kw["metavar"] = meta["metavar"]
        out.append(Flag(prefix + (f.name,), flag, kw))
    return out


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, required: bool = True) -> None:
    """Add one flag per (flattened) field of ``cls`` to ``parser``; ``required=False`` leaves the check
    for fields without a default to the caller (``missing_flags``)."""
    for fl in config_flags(cls):
        kwargs = fl.kwargs if required else {k: v for k, v in fl.kwargs.items() if k != "required"}
        parser.add_argument(fl.flag, **kwargs)


def missing_flags(cls: type, args: argparse.Namespace) -> list[str]:
    """The flags of fields without a default that ``args`` leaves unset."""
    return [fl.flag for fl in config_flags(cls)
            if fl.kwargs.get("required") and getattr(args, fl.kwargs["dest"]) is None]


def config_from_args(cls: type[C], args: argparse.Namespace, prefix: tuple[str, ...] = ()) -> C:
    """Build ``cls`` from the parsed flags (flags left unset keep the field's default)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or field_metadata(cls, f).get("cli", True) is False:
            continue
        tp, _ = _unwrap_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            values[f.name] = config_from_args(tp, args, prefix + (f.name,))
            continue
        value = getattr(args, "__".join(prefix + (f.name,)))
        join = field_metadata(cls, f).get("join")
        if join and isinstance(value, list):
            value = join.join(value)
        if typing.get_origin(tp) is tuple:
            if value is None:
                continue  # keep the field's default
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


def parse_config(cls: type[C], argv: list[str], prog: str | None = None) -> C:
    """``cls`` from a command line (for entry points like ``python -m saekit.train``)."""
    parser = argparse.ArgumentParser(prog=prog or sys.argv[0], description=(cls.__doc__ or "").strip())
    add_config_arguments(parser, cls)
    return config_from_args(cls, parser.parse_args(argv))
