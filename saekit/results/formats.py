"""docs/formats.md, generated from the result documents: `python -m saekit.results.formats --write`.

Each field's description is the comment on its line in the dataclass; a field without one is an
error, and tests/test_results_formats.py fails when docs/formats.md differs from what this writes,
so a field cannot be added to a document without being documented.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import sys
import tokenize
import typing
from pathlib import Path
from typing import Any

from saekit.results.codec import array_fields, hints, json_key

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "formats.md"

INTRO = """# File formats

Every file one saekit step writes and another reads is a *result document*: a frozen dataclass
in `saekit/results/` with `save(directory)` / `load(directory or file)`. This page is generated
from those classes (`python -m saekit.results.formats --write`); a test fails when it is out of
date or when a field has no description. To add an output field: add it, with a comment, to the
dataclass in `saekit/results/`, then regenerate this page.

Common rules:

- Files are JSON objects with `"kind"` and `"format_version"`, written atomically (a temporary
  sibling, then one rename) with the JSON last, so a directory holding it is complete.
- Numpy-array fields go to `arrays.npz` next to the JSON.
- NaN and infinite numbers are written as `null`.
- Unknown keys are an error; a file of a version this saekit does not read fails with one line
  naming the version and the command that rewrites it. Older versions listed under a document
  are upgraded on load.
- Fingerprints are 16 hex characters of sha256 (`saekit.results.fingerprint`): of an SAE's config
  and weights, of a store hook (attributes, sizes, first and last 64 rows), of a dataset's
  (sample id, label) list.
"""


def field_comments(cls: type) -> dict[str, str]:
    """name -> the comment on the line declaring that field in cls's source."""
    src = inspect.getsource(cls)
    out: dict[str, str] = {}
    line_field: dict[int, str] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for line_no, line in enumerate(src.splitlines(), 1):
        head = line.strip().split(":", 1)[0]
        if line.startswith("    ") and not line.startswith("     ") and head in names:
            line_field[line_no] = head
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            out[line_field[tok.start[0]]] = tok.string.lstrip("#").strip()
    return out


def type_name(tp: object) -> str:  # tp: an annotation (a type or a typing form)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' for a in args)
    if origin in (typing.Union, __import__("types").UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return "[" + ", ".join(type_name(a) for a in args) + "]"
        return f"list of {type_name(args[0]) if args else 'any'}"
    if origin is dict:
        return f"object of {type_name(args[1])}"
    if dataclasses.is_dataclass(tp):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    return {str: "string", int: "integer", float: "number", bool: "boolean", Any: "any"}.get(tp, getattr(tp, "__name__", str(tp)))


def nested(tp: object) -> list[type]:
    if dataclasses.is_dataclass(tp):
        return [tp]
    return [c for a in typing.get_args(tp) for c in nested(a)]


def describe(cls: type, seen: set[type]) -> list[str]:
    comments = field_comments(cls)
    h = hints(cls)
    arrays = set(array_fields(cls))
    lines = [f"### {cls.__name__}", ""]
    doc = inspect.getdoc(cls)
    if doc and not doc.startswith(cls.__name__ + "("):
        lines += [doc, ""]
    lines += ["| field | type | description |", "| --- | --- | --- |"]
    missing = []
    children: list[type] = []
    for f in dataclasses.fields(cls):
        text = comments.get(f.name, "")
        if not text:
            missing.append(f.name)
        where = " (in arrays.npz)" if f.name in arrays else ""
        tname = "array" if f.name in arrays else type_name(h[f.name])
        optional = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        lines.append(f"| `{json_key(f)}`{'' if not optional else ' (optional)'} | {tname} | {text}{where} |")
        for c in nested(h[f.name]):
            if c not in seen:
                seen.add(c)
                children.append(c)
    if missing:
        raise ValueError(f"{cls.__module__}.{cls.__name__}: field(s) {', '.join(missing)} have no comment "
                         "describing them (add one on the field's line)")
    lines.append("")
    for c in children:
        lines += describe(c, seen)
    return lines


def render() -> str:
    from saekit.results import DOCUMENTS

    out = [INTRO]
    seen: set[type] = set(DOCUMENTS)
    for cls in DOCUMENTS:
        module = sys.modules[cls.__module__]
        out.append(f"## {cls.__name__}\n")
        if hasattr(cls, "FILENAME"):
            versions = sorted({cls.FORMAT_VERSION, *cls.UPGRADES})
            out.append(f"File `{cls.FILENAME}`, kind `\"{cls.KIND}\"`, format version {cls.FORMAT_VERSION} "
                       f"(reads {', '.join(map(str, versions))}); written by `saekit {cls.COMMAND}`.\n")
        out.append((inspect.getdoc(module) or "").strip() + "\n")
        out += describe(cls, seen)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--write" in argv:
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
