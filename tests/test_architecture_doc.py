"""docs/architecture.md's maps stay true: every file or folder its "Where to change what" and command
tables name exists, every command of the command table and every registered metric is listed."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def _section(title: str) -> str:
    """From the heading ``title`` (any level) to the next heading of the same or a higher level."""
    text = DOC.read_text()
    match = re.search(rf"^(#+) {re.escape(title)}", text, re.M)
    assert match, f"docs/architecture.md has no section {title!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, match.end())
    return text[match.start():end.start() if end else None]


def _named_paths(text: str) -> set[str]:
    """Backticked repository paths (saekit/..., stores/..., dashboards/..., docs/..., tests/...)."""
    found = set()
    for span in re.findall(r"`([^`]+)`", text):
        for token in re.split(r"[\s,:;()]+", span):
            if re.match(r"^(saekit|stores|dashboards|docs|tests|experiments)/[\w/.<>*-]*$", token):
                found.add(token.rstrip("/."))
    return found


def _exists(path: str) -> bool:
    """A path exists; a placeholder part (``<name>``, ``*``) only needs its folder to exist."""
    if "<" in path or "*" in path:
        parent = path.split("<")[0].split("*")[0].rstrip("/")
        parent = parent if (ROOT / parent).is_dir() else parent.rpartition("/")[0]
        return (ROOT / parent).is_dir()
    return (ROOT / path).exists()


def test_every_path_in_the_where_to_change_table_exists():
    paths = _named_paths(_section("Where to change what"))
    assert len(paths) >= 8, paths
    missing = sorted(p for p in paths if not _exists(p))
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def _rows(section: str) -> set[str]:
    """The first cells of a section's table rows, when backticked (`name`)."""
    return {m.group(1) for m in re.finditer(r"^\| `([a-z_ ]+)` \|", section, re.M)}


def test_every_command_is_listed_where_it_lives_and_in_the_command_table():
    from saekit.commands import COMMANDS

    names = set(COMMANDS)
    for title in ("Where each command lives", "Commands: one config dataclass, one function, one generated CLI"):
        rows = _rows(_section(title))
        assert names <= rows, f"commands missing from docs/architecture.md's {title!r}: {sorted(names - rows)}"
        assert rows <= names, f"docs/architecture.md's {title!r} lists commands that do not exist: {sorted(rows - names)}"


def test_every_module_the_command_table_names_exists():
    import importlib

    section = _section("Commands")
    dotted = set(re.findall(r"`(saekit(?:\.[a-z_]+)+)\.[A-Za-z_]+`", section))
    assert len(dotted) >= 10, dotted
    missing = []
    for name in sorted(dotted):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            try:
                importlib.import_module(name.rpartition(".")[0])
            except ModuleNotFoundError:
                missing.append(name)
    assert not missing, f"docs/architecture.md's command table names modules that do not exist: {missing}"


def test_every_metric_is_listed():
    from saekit.eval.registry import all_metrics

    listed = _rows(_section("Where each metric lives"))
    names = {m.name for m in all_metrics()}
    assert names <= listed, f"metrics missing from docs/architecture.md's where-to-change tables: {sorted(names - listed)}"
    for name in names:
        assert (ROOT / "saekit" / "eval" / "metrics" / f"{name}.py").exists(), name


def test_the_path_finder_catches_a_wrong_path():
    assert _named_paths("see `saekit/nowhere/file.py` and `saekit/eval/metrics/<name>.py`") == {
        "saekit/nowhere/file.py", "saekit/eval/metrics/<name>.py"}
    assert not _exists("saekit/nowhere/file.py")
    assert _exists("saekit/eval/metrics/<name>.py")
