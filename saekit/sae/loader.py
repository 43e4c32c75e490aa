"""The one way to open an SAE: a saekit checkpoint directory, or another library's SAE, by spec.

Sits above the architectures (``saekit/sae/<arch>.py``), the checkpoint format and the foreign
formats (``saekit/sae/formats/``), so none of them needs to know the others: a spec is parsed,
resolved (a local path or ``hf:<repo>[@rev]/<path>``), its format read from the prefix or detected
from the files, and the matching reader builds the SAE.
"""
from __future__ import annotations

import logging
import os

import torch

from saekit.sae.base import SAE
from saekit.sae.checkpoint import load_checkpoint
from saekit.sae.formats import FOREIGN, detect
from saekit.sae.formats.spec import SAESpec, parse_spec, resolve

log = logging.getLogger(__name__)


def load_sae(spec: str | os.PathLike, device: str | torch.device = "cpu") -> SAE:
    """A saekit checkpoint directory, or another library's SAE: ``saelens:``, ``sparsify:``, ``dictlearn:``,
    ``saev:``, ``gemmascope:`` + a path or ``hf:<repo>[@rev]/<path>``, or a path whose files say which."""
    parsed: SAESpec = parse_spec(spec)
    path = resolve(parsed)
    fmt = parsed.format or detect(path, parsed.text)
    if fmt == "saekit":
        return load_checkpoint(path, device=device)
    origin = str(parsed.hub) if parsed.hub is not None else str(path)
    sae = FOREIGN[fmt].load(path, origin)
    log.info("loaded %s SAE %s as saekit %s (d_in=%d, d_sae=%d, hook=%r)", fmt, origin, sae.cfg.arch,
             sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.hook)
    return sae.to(device)
