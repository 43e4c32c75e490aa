"""The architecture registry: arch name -> SAE subclass, torch-free until a class is asked for.

An architecture registers by subclassing (``class GatedSAE(SAE, arch="gated")``, see saekit.sae.base);
the built-in ones are the modules of ``saekit/sae/archs/``, each named as its arch and imported on
first use, so the names are known (for ``--arch``'s choices) without importing torch.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.sae.base import SAE

ARCH_PACKAGE = "saekit.sae.archs"
#: arch name -> SAE subclass, of the architectures imported so far (arch_class imports the others)
ARCH_CLASSES: dict[str, type[SAE]] = {}


def builtin_arch_names() -> tuple[str, ...]:
    """The modules of saekit/sae/archs/, in alphabetical order (read from the folder, not imported)."""
    folder = Path(__file__).with_name("archs")
    return tuple(sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if not m.name.startswith("_")))


def arch_names() -> tuple[str, ...]:
    """Every architecture: the built-in modules, then those registered from elsewhere (a plug-in, a test)."""
    builtin = builtin_arch_names()
    return builtin + tuple(name for name in ARCH_CLASSES if name not in builtin)


def arch_class(name: str) -> type[SAE]:
    """The SAE subclass of arch ``name`` (importing its module of saekit/sae/archs/ on first use)."""
    if name not in ARCH_CLASSES and name in builtin_arch_names():
        importlib.import_module(f"{ARCH_PACKAGE}.{name}")  # registers the class it defines
    cls = ARCH_CLASSES.get(name)
    if cls is None:
        raise SaekitError(f"unknown SAE architecture {name!r} (expected one of {', '.join(arch_names())})")
    return cls


def all_arch_classes() -> dict[str, type[SAE]]:
    """Every architecture's class (imports the built-in modules)."""
    return {name: arch_class(name) for name in arch_names()}


class _ArchNames(Sequence[str]):
    """A live view of arch_names(): an architecture defined anywhere is listed everywhere ARCHS is."""

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...

    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        return arch_names()[i]

    def __len__(self) -> int:
        return len(arch_names())

    def __iter__(self) -> Iterator[str]:
        return iter(arch_names())

    def __contains__(self, name: object) -> bool:
        return name in arch_names()

    def __repr__(self) -> str:
        return repr(arch_names())


ARCHS: Sequence[str] = _ArchNames()
