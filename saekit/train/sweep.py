"""Sweeps: several SAE variants (k, width, learning rate, ...) trained from one pass over the data.

``sweep=("k=16,32,64", "expansion=8,16")`` means every combination (here 6 SAEs); each variant is
the base configuration with those fields replaced, written to ``out/<name>`` (``k16-expansion8``)
with its own checkpoint, metrics and trainer state; ``out/sweep.json`` lists them. Only fields
that leave the input unchanged may vary, so every member consumes the same batches.
"""
from __future__ import annotations

import itertools
from pathlib import Path

from saekit.common.errors import SaekitError
from saekit.results.sweep import SweepDocument, SweepMember
from saekit.train.config import TrainConfig

SWEEP_NAME = SweepDocument.FILENAME
SWEEPABLE = {"k": int, "expansion": float, "d_sae": int, "lr": float, "l1": float, "aux_coeff": float,
             "k_aux": int, "l0_coeff": float, "arch": str}
SweepValue = int | float | str


def parse_axis(spec: str) -> tuple[str, list[tuple[str, SweepValue]]]:
    """'k=16,32' -> ('k', [('16', 16), ('32', 32)])."""
    key, sep, values = spec.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not values.strip():
        raise SaekitError(f"--sweep {spec!r}: expected FIELD=V1,V2,... (e.g. k=16,32,64)")
    if key not in SWEEPABLE:
        raise SaekitError(f"--sweep {spec!r}: {key!r} cannot vary in a sweep; one of {', '.join(SWEEPABLE)}")
    out = []
    for text in (v.strip() for v in values.split(",")):
        try:
            out.append((text, SWEEPABLE[key](text)))
        except ValueError:
            raise SaekitError(f"--sweep {spec!r}: {text!r} is not a valid {key}") from None
    if len({t for t, _ in out}) != len(out):
        raise SaekitError(f"--sweep {spec!r}: repeated values")
    return key, out


def sweep_configs(cfg: TrainConfig) -> list[TrainConfig]:
    """One TrainConfig per combination of the sweep axes, each with its own out directory."""
    if not cfg.sweep:
        raise SaekitError("a sweep needs at least one --sweep FIELD=V1,V2,...")
    axes = [parse_axis(s) for s in cfg.sweep]
    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise SaekitError(f"--sweep names a field twice: {', '.join(keys)}")
    members = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        name = "-".join(f"{k}{text}" for k, (text, _) in zip(keys, combo))
        changes = {k: v for k, (_, v) in zip(keys, combo)}
        if "expansion" in changes and "d_sae" not in changes:
            changes["d_sae"] = None
        members.append(cfg.replace(sweep=(), out=str(Path(cfg.out) / name), **changes))
    return members


def sweep_document(cfg: TrainConfig, members: list[TrainConfig]) -> SweepDocument:
    """sweep.json of the sweep ``cfg`` whose variants are ``members`` (sweep_configs(cfg))."""
    return SweepDocument(sweep=tuple(cfg.sweep), members=tuple(
        SweepMember(name=Path(m.out).name, out=Path(m.out).name, arch=m.arch, k=m.k, expansion=m.expansion,
                    d_sae=m.d_sae, lr=m.lr, l1=m.l1) for m in members))
