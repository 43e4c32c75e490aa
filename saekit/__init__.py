"""saekit: sparse autoencoders for vision, vision-language and language transformers.

Every command of the command table (``saekit/commands/commands.json``) is a function of its name taking
its config dataclass, and returns exactly what ``saekit COMMAND`` returns: ``saekit.train(TrainConfig(...))``
gives the `TrainResult`, ``saekit.store_info(StoreInfoConfig(...))`` the `StoreInfo`; the config classes
are exported under their own names. ``saekit.capture``, ``saekit.train``, ``saekit.eval``,
``saekit.quickstart`` and ``saekit.export`` are packages callable as their command.
``saekit.steered(model, hook, sae, {latent: value})`` is the context manager that steers a model in
code. Every public name is imported lazily, so ``import saekit`` (and the CLI's --help) does not pay
for torch / transformers until it is used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: the public names that are not a command or a command's config (those come from the command table)
_EXPORTS: dict[str, str] = {
    "SAE": "saekit.sae",
    "SAEConfig": "saekit.sae",
    "load_sae": "saekit.sae",
    "evaluate_downstream": "saekit.eval",
    "SaekitError": "saekit.common.errors",
    "load_model": "saekit.models",
    "load_dataset": "saekit.data",
    "evaluate": "saekit.eval",
    "Inputs": "saekit.inputs",
    "TrainResult": "saekit.train.command",
    "NamingOptions": "saekit.analysis.naming.config",
    "AlignConfig": "saekit.analysis.alignment.config",
    "Evaluation": "saekit.eval",
    "run_eval": "saekit.eval",
    "ArtifactConfig": "saekit.analysis.artifacts.config",
}
#: names served under another name: saekit.steered is the context manager of saekit.analysis.steering
_RENAMED: dict[str, tuple[str, str]] = {"steered": ("saekit.analysis.steering.edit", "steer")}


def _command_exports() -> dict[str, tuple[str, str]]:
    """Public name -> ("module:attribute" or "saekit.<package>", kind) for every command of the table
    saekit holds (not the dashboard's, a layer above): the function under the command's name (spaces as
    underscores) and its config class under the class's own name."""
    from saekit.commands import COMMANDS

    out: dict[str, tuple[str, str]] = {}
    for name, command in COMMANDS.items():
        if command.requires is not None:
            continue
        public = name.replace(" ", "_")
        module = command.function.partition(":")[0]
        # a command whose function sits in the package of its name is that package, made callable
        # as the command by the package itself (saekit.train.__init__): a plain attribute would be
        # replaced by the package as soon as anything imports it
        package = f"saekit.{public}"
        out[public] = (package, "package") if module.startswith(package + ".") else (command.function, "object")
        out[command.config.partition(":")[2]] = (command.config, "object")
    return out


def __getattr__(name: str) -> Any:  # Any: whatever the named public object is
    if name == "__all__":
        return sorted([*_EXPORTS, *_RENAMED, *_command_exports()])
    if name in _RENAMED:
        module_name, attr = _RENAMED[name]
        value = getattr(importlib.import_module(module_name), attr)
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in (commands := _command_exports()):
        ref, kind = commands[name]
        if kind == "package":
            return importlib.import_module(ref)  # bound on saekit by the import itself
        from saekit.commands import resolve

        value = resolve(ref)
    else:
        raise AttributeError(f"module 'saekit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
