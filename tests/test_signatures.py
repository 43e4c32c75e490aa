"""Concrete types at public signatures: at most 5% of the public function signatures of stores/,
saekit/ and dashboards/ mention ``Any``, and each one that does says why in a comment on its ``def``
line or on the line of the annotation that holds ``Any``.

Public: the function's name does not start with an underscore (``__init__`` and ``__call__`` count),
no part of the file's path does (``__init__.py`` counts), and methods count when their class is
public; functions nested inside functions do not count.
"""
from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = ("stores", "saekit", "dashboards")
MAX_SHARE = 0.05
ANY = re.compile(r"\bAny\b")
# pragmas that are not an explanation
PRAGMA = re.compile(r"type:\s*ignore(\[[^\]]*\])?|noqa(:\s*[A-Z0-9, ]+)?|pragma:.*", re.I)


@dataclass(frozen=True)
class Signature:
    path: str
    line: int
    name: str
    any_lines: tuple[int, ...]  # the lines whose annotations mention Any (empty: none does)
    explained: bool             # a comment on the def line or one of any_lines


def _comments(source: str) -> dict[int, str]:
    """line -> the comment text on it, pragmas removed."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = PRAGMA.sub("", tok.string.lstrip("#")).strip(" #:")
            if text:
                out[tok.start[0]] = text
    return out


def _any_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, ...]:
    parts = [a.annotation for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs,
                                    fn.args.vararg, fn.args.kwarg) if a is not None and a.annotation is not None]
    parts += [d for d in (*fn.args.defaults, *fn.args.kw_defaults) if d is not None]
    if fn.returns is not None:
        parts.append(fn.returns)
    lines = {node.lineno for part in parts for node in ast.walk(part)
             if (isinstance(node, ast.Name) and node.id == "Any")
             or (isinstance(node, ast.Attribute) and node.attr == "Any")
             or (isinstance(node, ast.Constant) and isinstance(node.value, str) and ANY.search(node.value))}
    return tuple(sorted(lines))


def _mentions_any(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    # " -> " keeps a last parameter's "Any" a word of its own ("x: Any" + "int" would read "Anyint")
    sig = ast.unparse(fn.args) + " -> " + (ast.unparse(fn.returns) if fn.returns is not None else "")
    return bool(ANY.search(sig))


def _is_public(name: str) -> bool:
    return not name.startswith("_") or name in ("__init__", "__call__")


def signatures_of(source: str, path: str = "<string>") -> list[Signature]:
    """The public signatures of one module."""
    comments = _comments(source)
    out: list[Signature] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not _is_public(child.name):
                    continue
                lines = _any_lines(child) if _mentions_any(child) else ()
                if _mentions_any(child) and not lines:
                    lines = (child.lineno,)
                explained = any(n in comments for n in (child.lineno, *lines))
                out.append(Signature(path, child.lineno, child.name, lines, explained))
            elif isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
                walk(child)

    walk(ast.parse(source))
    return out


def tree_signatures(root: Path, trees: tuple[str, ...] = TREES) -> list[Signature]:
    out: list[Signature] = []
    for tree in trees:
        for f in sorted((root / tree).rglob("*.py")):
            rel = f.relative_to(root)
            if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
                continue
            out += signatures_of(f.read_text(encoding="utf-8"), str(rel))
    return out


def test_at_most_5_percent_of_public_signatures_mention_any_and_each_says_why():
    sigs = tree_signatures(ROOT)
    with_any = [s for s in sigs if s.any_lines]
    assert len(sigs) > 500  # the whole tree was read
    share = len(with_any) / len(sigs)
    listed = "\n".join(f"  {s.path}:{s.line} {s.name}" for s in with_any)
    assert share <= MAX_SHARE, (f"{len(with_any)} of {len(sigs)} public signatures ({share:.1%}) mention Any; "
                                f"at most {MAX_SHARE:.0%} may:\n{listed}")
    unexplained = [s for s in with_any if not s.explained]
    assert not unexplained, ("these public signatures mention Any without a comment saying why (on the def line "
                             "or the annotation's line):\n"
                             + "\n".join(f"  {s.path}:{s.line} {s.name}" for s in unexplained))


PLANTED = {
    "pkg/__init__.py": """
        from typing import Any
        def exported(x: Any) -> int:  # Any: planted, explained
            return 1
    """,
    "pkg/mod.py": """
        import typing
        from typing import Any

        def plain(x: int) -> int:
            return x

        def bare(x: Any) -> int:
            return 1

        def returns(x: int) -> typing.Any:
            return x

        def quoted(x: "dict[str, Any]") -> None:
            pass

        def multi_line(a: int,
                       b: Any,  # Any: the caller's own object, passed through untouched
                       ) -> None:
            pass

        def pragma_only(x: Any) -> None:  # type: ignore[misc]
            pass

        def _private(x: Any) -> None:
            def nested(y: Any) -> None:
                pass

        class Public:
            def __init__(self, x: Any) -> None:
                pass

            def method(self) -> int:
                return 1

            def __repr__(self) -> Any:
                return ""

            def _hidden(self, x: Any) -> None:
                pass

        class _Private:
            def method(self, x: Any) -> None:
                pass
    """,
    "pkg/_internal/skipped.py": """
        from typing import Any
        def skipped(x: Any) -> None:
            pass
    """,
}


def test_the_counter_on_a_planted_tree(tmp_path):
    for rel, src in PLANTED.items():
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(src).lstrip())
    sigs = {s.name: s for s in tree_signatures(tmp_path, ("pkg",))}
    # counted: the public functions, public methods, __init__; not _private, nested, __repr__, _hidden,
    # methods of _Private, or anything under _internal/
    assert sorted(sigs) == ["__init__", "bare", "exported", "method", "multi_line", "plain", "pragma_only",
                            "quoted", "returns"]
    with_any = {n for n, s in sigs.items() if s.any_lines}
    assert with_any == {"__init__", "bare", "exported", "multi_line", "pragma_only", "quoted", "returns"}
    assert {n for n, s in sigs.items() if s.explained} == {"exported", "multi_line"}
    assert sigs["multi_line"].any_lines == (sigs["multi_line"].line + 1,)  # the annotation's own line
