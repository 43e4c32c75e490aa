"""Packages whose public names load on first use (``import saekit.train`` must not pay for torch
when only the config is wanted, ``import stores.atomic`` not for h5py), and that can be called like
their command function, so that ``saekit.train(TrainConfig(...))`` works although ``saekit.train``
is a package. In the lowest layer so ``stores`` itself can use it; ``saekit.common.lazy`` re-exports it."""
from __future__ import annotations

import importlib
import sys
import types
from typing import Callable


class CallableModule(types.ModuleType):
    """A module that, called, calls its attribute named by ``__command__``."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        return getattr(self, self.__command__)(*args, **kwargs)


def lazy_exports(module_name: str, exports: dict[str, str], command: str | None = None
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """(__getattr__, __dir__) for package ``module_name`` serving ``exports`` (name -> module) lazily;
    with ``command`` the package becomes callable as that function."""
    module = sys.modules[module_name]
    if command is not None:
        module.__class__ = CallableModule
        module.__command__ = command  # type: ignore[attr-defined]

    def __getattr__(name: str) -> object:

        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(exports))

    return __getattr__, __dir__
