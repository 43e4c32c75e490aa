"""SweepDocument: sweep.json, written by `saekit train --sweep` into the sweep's output directory.

Lists the variants trained from one pass over the data: each member's directory (relative to the
sweep's) and the fields it varies. Version 1 files (a "version": 1 key instead of kind and
format_version) load as version 2.
"""
from __future__ import annotations

from dataclasses import dataclass

from saekit.common.jsontypes import JSONObject
from saekit.results.document import Document


@dataclass(frozen=True)
class SweepMember:
    name: str                         # the member's name (k16-expansion8: the varied fields and values)
    out: str                          # its checkpoint directory, relative to the sweep's directory
    arch: str                         # architecture
    k: int | None                     # active latents per token (None: the architecture's default or none)
    expansion: float                  # d_sae / d_in (when d_sae is not given)
    d_sae: int | None                 # number of latents (None: from expansion)
    lr: float | None                  # learning rate (None: the automatic one)
    l1: float | None                  # L1 coefficient (None: the default)


@dataclass(frozen=True)
class SweepDocument(Document, kind="sweep", filename="sweep.json", version=2,
                    command="train", what="sweep"):

    sweep: tuple[str, ...]            # the --sweep axes as given (FIELD=V1,V2,...)
    members: tuple[SweepMember, ...]  # every combination of the axes, in order

    @classmethod
    def unversioned(cls, data: JSONObject, where: str) -> int:
        version = data.get("version")
        if "kind" not in data and version == 1:
            return 1
        return super().unversioned(data, where)


def _from_v1(data: JSONObject) -> JSONObject:
    """Version 1 carried {"version": 1} instead of kind and format_version."""
    return {k: v for k, v in data.items() if k != "version"}


SweepDocument.UPGRADES = {1: _from_v1}
