"""saekit: sparse autoencoders for vision, vision-language and language transformers.

`saekit.capture` and `saekit.train` are subpackages (their functions: `saekit.capture.capture`,
`saekit.train.train`). The public names below are imported lazily so that `import saekit` (and the CLI's --help) does
not pay for torch / transformers until they are used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "SAE": "saekit.sae",
    "SAEConfig": "saekit.sae",
    "CaptureConfig": "saekit.capture",
    "TrainConfig": "saekit.train",
    "evaluate_downstream": "saekit.eval",
    "SaekitError": "saekit.errors",
    "load_model": "saekit.models",
    "load_dataset": "saekit.data",
    "evaluate": "saekit.eval",
    "steer": "saekit.analysis.steering",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'saekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
