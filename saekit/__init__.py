"""saekit: sparse autoencoders for vision, vision-language and language transformers.

Every command is a function of the same name taking its config dataclass (saekit.commands):
`saekit.capture(CaptureConfig(...))`, `saekit.train(TrainConfig(...))`, `saekit.eval(EvalConfig(...))`
(these three and `saekit.quickstart` are modules callable as their command), `saekit.compare(CompareConfig(...))`,
`saekit.align(AlignRunConfig(...))`, `saekit.name(NameConfig(...))`, `saekit.explain(ExplainConfig(...))`,
`saekit.audit(AuditConfig(...))`, `saekit.artifacts(ArtifactsConfig(...))`, `saekit.steer(SteerConfig(...))`,
`saekit.store_info(StoreInfoConfig(...))`, `saekit.store_verify(StoreVerifyConfig(...))`,
`saekit.quickstart(QuickstartConfig(...))`. `saekit.steered(model, hook, sae, {latent: value})` is the
context manager that steers a model in code. The public names below are imported lazily so that
`import saekit` (and the CLI's --help) does not pay for torch / transformers until they are used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "SAE": "saekit.sae",
    "SAEConfig": "saekit.sae",
    "load_sae": "saekit.sae",
    "CaptureConfig": "saekit.capture",
    "TrainConfig": "saekit.train",
    "evaluate_downstream": "saekit.eval",
    "SaekitError": "saekit.common.errors",
    "load_model": "saekit.models",
    "load_dataset": "saekit.data",
    "evaluate": "saekit.eval",
    # commands: one function each, taking the command's config dataclass (saekit.commands)
    "TrainResult": "saekit.train.command",
    "name": "saekit.analysis.naming.run",
    "NameConfig": "saekit.analysis.naming.config",
    "NamingOptions": "saekit.analysis.naming.config",
    "AlignConfig": "saekit.analysis.align_config",
    "AlignRunConfig": "saekit.analysis.align_config",
    "compare": "saekit.eval.compare",
    "CompareConfig": "saekit.eval.compare",
    "EvalConfig": "saekit.eval",
    "Evaluation": "saekit.eval",
    "run_eval": "saekit.eval",
    "store_info": "saekit.store_commands",
    "store_verify": "saekit.store_commands",
    "StoreInfoConfig": "saekit.store_commands",
    "StoreVerifyConfig": "saekit.store_commands",
    "audit": "saekit.analysis.audit",
    "AuditConfig": "saekit.analysis.audit",
    "artifacts": "saekit.analysis.artifacts_command",
    "ArtifactsConfig": "saekit.analysis.artifacts_config",
    "ArtifactConfig": "saekit.analysis.artifacts_config",
    "steer": "saekit.analysis.steer_command",
    "export": "saekit.export_command",
    "ExportConfig": "saekit.export_command",
    "SteerConfig": "saekit.analysis.steer_command",
    "QuickstartConfig": "saekit.quickstart",
    "run_quickstart": "saekit.quickstart",
    "explain": "saekit.autointerp.explain",
    "ExplainConfig": "saekit.autointerp.config",
}
#: names served under another name: saekit.align is the `align` command's function
_RENAMED: dict[str, tuple[str, str]] = {"align": ("saekit.analysis.alignment", "align_command"),
                                        "steered": ("saekit.analysis.steering", "steer")}
#: submodules that are callable as their command (saekit.train(TrainConfig(...)), saekit.capture(...)): a
#: plain lazy name would be replaced by the submodule as soon as something imports it
_CALLABLE_PACKAGES = ("train", "capture", "eval", "quickstart")

__all__ = sorted([*_EXPORTS, *_RENAMED, *_CALLABLE_PACKAGES])


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_PACKAGES:
        return importlib.import_module(f"saekit.{name}")
    if name in _RENAMED:
        module_name, attr = _RENAMED[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'saekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
