"""Result documents <-> JSON, driven by the dataclasses' type hints.

`encode` turns a (frozen) dataclass into plain JSON values; `decode` builds it back, checking
every field against its annotation and naming the offending path in one line
(``names.json: latents[3].score: expected a number, found 'abc'``). Unknown keys are errors: a
field exists in a file only when it exists in the document class (and in docs/formats.md).
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import lru_cache
from typing import Any, Mapping, TypeVar, Union

import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONValue

T = TypeVar("T")


def encode(value: object) -> JSONValue:
    """Plain JSON value of a dataclass / tuple / dict / numpy scalar tree; NaN and inf become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {json_key(f): encode(getattr(value, f.name)) for f in json_fields(type(value))}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, np.ndarray):
        return [encode(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


@lru_cache(maxsize=None)
def hints(cls: type) -> dict[str, object]:  # field name -> its annotation (a type or a typing form)
    return typing.get_type_hints(cls)


def json_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    """The fields stored in the JSON file (numpy array fields go to the document's .npz file)."""
    h = hints(cls)
    return tuple(f for f in dataclasses.fields(cls) if h[f.name] is not np.ndarray)


def json_key(f: dataclasses.Field) -> str:
    """The field's key in the file: its name, or metadata["key"] when the name is a Python keyword."""
    return f.metadata.get("key", f.name)


def array_fields(cls: type) -> tuple[str, ...]:
    h = hints(cls)
    return tuple(f.name for f in dataclasses.fields(cls) if h[f.name] is np.ndarray)


def _fail(where: str, expected: str, value: object) -> SaekitError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SaekitError(f"{where}: expected {expected}, found {shown}")


def decode(tp: object, value: JSONValue, where: str) -> object:
    """`value` (parsed JSON) as type `tp` (an annotation); SaekitError naming `where` when it does not fit."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return decode(arg, value, where)
            except SaekitError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else _fail(where, " or ".join(_describe(a) for a in args), value)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise _fail(where, "one of " + ", ".join(map(repr, typing.get_args(tp))), value)
        return value
    if dataclasses.is_dataclass(tp):
        return decode_dataclass(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _fail(where, f"a list of {len(args)} items", value)
            return tuple(decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [decode(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        _, vt = typing.get_args(tp) or (str, Any)
        return {k: decode(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if value is None:  # NaN / inf are written as null
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, "a number", value)
        return float(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, "an integer", value)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, "a string", value)
        return value
    raise TypeError(f"{where}: unsupported annotation {tp!r} in a result document")


def decode_dataclass(cls: type[T], value: JSONValue, where: str, extra: Mapping[str, np.ndarray] | None = None) -> T:
    """`cls` from a JSON object; `extra` supplies fields kept outside the JSON (numpy arrays)."""
    if not isinstance(value, dict):
        raise _fail(where, f"an object ({cls.__name__})", value)
    fields = {json_key(f): f for f in json_fields(cls)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise SaekitError(f"{where}: unknown field {unknown[0]!r} (this saekit knows "
                          f"{', '.join(sorted(fields))})")
    kwargs = dict(extra or {})
    h = hints(cls)
    for key, f in fields.items():
        if key in value:
            kwargs[f.name] = decode(h[f.name], value[key], f"{where}.{key}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SaekitError(f"{where}: missing field {key!r}")
    return cls(**kwargs)


def _describe(tp: object) -> str:

    return getattr(tp, "__name__", None) or str(tp)
