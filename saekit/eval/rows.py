"""The rows an evaluation runs on: one split of a store's samples, whole samples, in memory.

Split resolution (``split``):
  "auto"     held-out rows when the SAE records a held-out split (``sae.cfg.holdout > 0``) or a
             fraction is given; otherwise all rows, and the result says they include training rows
  "holdout"  held-out rows (the SAE's recorded fraction and salt, or ``holdout``); an error without one
  "train"    the training side of the split
  "all"      every row
Rows are taken in store order, whole samples only, until ``max_rows`` would be exceeded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.sae import SAE
from saekit.train.data import BatchSource, check_finite, check_hook
from stores.split import DEFAULT_SALT, SplitView

SPLITS = ("auto", "holdout", "train", "all")


@dataclass(frozen=True)
class SplitInfo:
    """Which rows were evaluated; every result carries this."""

    name: str  # holdout | train | all
    fraction: float
    salt: str
    note: str = ""

    def to_dict(self) -> JSONObject:
        return {"name": self.name, "fraction": self.fraction, "salt": self.salt, "note": self.note}


@dataclass
class EvalRows:
    """Activations [N, d] with their sample ids and token positions, plus per-sample metadata."""

    hook: str
    acts: np.ndarray
    sample_id: np.ndarray
    position: np.ndarray
    split: SplitInfo
    attrs: dict[str, Any] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)  # sample id -> label ("" when unlabelled)
    texts: dict[int, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(len(self.acts))

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct sample ids in first-seen order, row -> sample index [N])."""
        uniq, first, inverse = np.unique(self.sample_id, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return uniq[order], rank[inverse]


def resolve_split(sae: SAE, split: str, holdout: float | None) -> SplitInfo:
    if split not in SPLITS:
        raise SaekitError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    recorded = float(getattr(sae.cfg, "holdout", 0.0) or 0.0)
    salt = getattr(sae.cfg, "holdout_salt", "") or DEFAULT_SALT
    fraction = holdout if holdout is not None else recorded
    if holdout is not None and recorded and abs(holdout - recorded) > 1e-12:
        raise SaekitError(f"--holdout {holdout} differs from the held-out fraction {recorded} recorded in the SAE "
                          f"checkpoint; leave --holdout out to use the recorded split")
    if split == "all":
        return SplitInfo("all", fraction, salt, "every row; includes the SAE's training rows")
    if fraction <= 0:
        if split in ("holdout", "train"):
            raise SaekitError(f"--split {split}: the SAE records no held-out split; pass --holdout FRACTION "
                              f"(the fraction it was trained with) or use --split all")
        return SplitInfo("all", 0.0, salt, "the SAE records no held-out split: all rows, including its training rows")
    name = "train" if split == "train" else "holdout"
    note = "" if recorded else f"held-out fraction {fraction} given by the caller, not recorded in the checkpoint"
    return SplitInfo(name, fraction, salt, note)


def load_rows(source: BatchSource, hook: str, split: SplitInfo, max_rows: int | None = None,
              max_samples: int | None = None, batch_size: int = 65536) -> EvalRows:
    """The rows of ``split`` (whole samples; at most ``max_rows`` rows and ``max_samples`` samples) in memory."""
    check_hook(source, hook)
    view = SplitView(source, split.fraction, split.name, split.salt) if split.name != "all" else None
    it = (view or source).iter_batches(hook, batch_size, shuffle=False, with_index=True)
    acts, sids, poss, n, seen, cut = [], [], [], 0, 0, False
    for a, s, p in it:
        check_finite(a, s, p, f"evaluation rows of {hook!r}")
        acts.append(a), sids.append(s), poss.append(p)
        n += len(a)
        seen += int(np.count_nonzero(s[1:] != s[:-1])) + 1  # runs (an upper bound on new samples)
        if (max_rows is not None and n > max_rows) or (max_samples is not None and seen > max_samples):
            cut = True
            break
    if cut:  # keep whole samples only: rows come in store order, the last run may continue unread
        sid = np.concatenate(sids)
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        ends = np.r_[starts[1:], len(sid)]
        ok = np.arange(len(ends)) < len(ends) - 1
        if max_rows is not None:
            ok &= ends <= max_rows
        if max_samples is not None:
            ok &= np.arange(1, len(ends) + 1) <= max_samples
        keep_to = int(ends[ok][-1]) if ok.any() else 0
        acts, sids, poss = [np.concatenate(acts)[:keep_to]], [sid[:keep_to]], [np.concatenate(poss)[:keep_to]]
        n = keep_to
    if n == 0:
        raise SaekitError(f"the {split.name} split of the store has no rows of {hook!r} to evaluate"
                          + (" (too few samples for a held-out split; lower --max-rows limits or use --split all)"
                             if split.name == "holdout" else ""))
    rows = EvalRows(hook, np.concatenate(acts), np.concatenate(sids), np.concatenate(poss).astype(np.int64), split,
                    attrs=dict(getattr(source, "attrs", {}) or {}))
    table = getattr(source, "samples", None)
    if table is not None:
        for sid in np.unique(rows.sample_id):
            rec = table[int(sid)] if int(sid) in table else {}
            rows.labels[int(sid)] = str(rec.get("label") or "")
            rows.texts[int(sid)] = str(rec.get("text") or "")
    return rows
