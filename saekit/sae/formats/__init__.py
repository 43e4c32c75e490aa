"""Open the SAEs of other libraries as saekit SAEs, and write saekit SAEs in their formats.

    load_sae("saelens:path/to/dir")                       # saekit.sae.loader; or sparsify:, dictlearn:, saev:, gemmascope:
    load_sae("gemmascope:hf:google/gemma-scope-2b-pt-res/layer_3/width_16k/average_l0_50")
    load_sae("path/to/dir")                               # format detected from the files
    export_sae(sae, "saelens", "out/sae_saelens")

One module per format; each has `matches(path)`, `load(path, origin) -> SAE` and, where the format
can hold saekit SAEs, `export(sae, out)`. See docs/interop.md for what maps to what.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from saekit.common.errors import SaekitError
from saekit.sae.formats import dictlearn, gemmascope, saelens, saev, sparsify
from saekit.sae.formats.spec import FORMAT_NAMES, parse_spec, work_dir

if TYPE_CHECKING:
    from saekit.sae.base import SAE


FOREIGN: dict[str, ModuleType] = {"saelens": saelens, "sparsify": sparsify, "dictlearn": dictlearn, "saev": saev,
                                  "gemmascope": gemmascope}
EXPORTERS: dict[str, ModuleType] = {"saelens": saelens, "sparsify": sparsify, "dictlearn": dictlearn}


def _is_saekit(path: Path) -> bool:
    if (path / "weights.safetensors").is_file():
        return (path / "config.json").is_file()
    try:  # a saekit config without its weights: saekit's loader names what is missing
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("format") == "saekit-sae"
    except (OSError, ValueError, AttributeError):
        return False


def detect(path: Path, text: str) -> str:
    """The one format whose files `path` holds; SaekitError when none or several match."""
    found = [name for name, mod in FOREIGN.items() if mod.matches(path)]
    if _is_saekit(path):
        found.insert(0, "saekit")
    if not found and sparsify.hookpoints(path):
        found = ["sparsify"]  # a multi-hook sparsify folder: its loader names the hook points
    if len(found) > 1:
        raise SaekitError(f"--sae {text}: {path} holds the files of several SAE formats ({', '.join(found)}); "
                          f"prefix the spec with the one you mean, e.g. {found[0]}:{text}")
    if not found:
        raise SaekitError(f"--sae {text}: no known SAE format in {path} (expected a saekit checkpoint or the files "
                          f"of {', '.join(FOREIGN)}; prefix the spec with the format to get its exact requirements)")
    return found[0]


def export_sae(sae: SAE, fmt: str, out: str | os.PathLike) -> Path:
    """Write a loaded SAE in format fmt (saelens, sparsify, dictlearn) to the new folder out."""
    if fmt not in EXPORTERS:
        raise SaekitError(f"--format {fmt!r} is not one saekit writes (expected one of {', '.join(EXPORTERS)})")
    return EXPORTERS[fmt].export(sae.to("cpu"), Path(out))


__all__ = ["FORMAT_NAMES", "FOREIGN", "EXPORTERS", "detect", "export_sae", "parse_spec", "work_dir"]
