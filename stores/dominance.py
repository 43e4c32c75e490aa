"""Rows that dominate a hook's squared norm (e.g. a language model's attention-sink tokens).

`row_dominance` reads (up to ``max_rows`` leading rows of) one hook in a single pass and reports
the rows whose L2 norm exceeds ``ratio`` times the median norm: how many, which positions they sit
at, a few example (sample id, position, norm) rows, and the share of the total squared norm they
carry. ``dominated`` is true when they carry at least ``DOMINANT_SHARE`` of it: then a global scale
normalisation (E||x||^2 = 1) shrinks every other row towards zero and a pooled FVE measures only
those rows. The capture's massive-token rule (saekit.capture.massive) is what normally removes them.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, TypedDict

import numpy as np

if TYPE_CHECKING:
    from stores.sources import RowSource

DEFAULT_RATIO = 10.0
DOMINANT_SHARE = 0.5
MAX_ROWS = 1 << 20
N_EXAMPLES = 5


class DominantRow(TypedDict):
    sample_id: int
    position: int
    norm: float


class DominanceReport(TypedDict):
    """How much of a hook's squared norm its largest rows carry (see the module docstring)."""

    n_rows_read: int
    ratio: float
    median_norm: float
    threshold: float
    n_dominant: int
    frac_rows: float
    share_sq_norm: float
    dominated: bool
    positions: dict[int, int]           # token position -> dominant rows there (the most common few)
    examples: list[DominantRow]         # the largest rows


def row_dominance(store: RowSource, hook: str, ratio: float = DEFAULT_RATIO, max_rows: int = MAX_ROWS,
                  batch_rows: int = 1 << 16) -> DominanceReport:
    """Report on the rows of ``hook`` above ``ratio`` x the median norm (see the module docstring)."""
    norms, sids, poss = [], [], []
    seen = 0
    for acts, sid, pos in store.iter_batches(hook, batch_rows, shuffle=False, with_index=True):
        take = min(len(acts), max_rows - seen)
        norms.append(_norms(acts[:take]))
        sids.append(np.asarray(sid[:take], np.int64))
        poss.append(np.asarray(pos[:take], np.int64))
        seen += take
        if seen >= max_rows:
            break
    return dominance_of(np.concatenate(norms) if norms else np.zeros(0),
                        np.concatenate(sids) if sids else np.zeros(0, np.int64),
                        np.concatenate(poss) if poss else np.zeros(0, np.int64), ratio)


def _norms(x: np.ndarray) -> np.ndarray:
    """Row L2 norms, float64. Squared in float32 (four times faster than widening every row to float64),
    then the rows whose float32 sum overflowed are redone in float64, so large finite rows stay finite."""
    x = np.asarray(x, np.float32)
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
    over = np.flatnonzero(np.isinf(sq))
    if over.size:
        wide = x[over].astype(np.float64)
        sq[over] = np.einsum("ij,ij->i", wide, wide)
    return np.sqrt(sq)


def dominance_of(norms: np.ndarray, sample_ids: np.ndarray, positions: np.ndarray,
                 ratio: float = DEFAULT_RATIO) -> DominanceReport:
    finite = np.isfinite(norms)
    norms, sample_ids, positions = norms[finite], sample_ids[finite], positions[finite]
    n = int(norms.size)
    if n == 0:
        return {"n_rows_read": 0, "ratio": ratio, "median_norm": float("nan"), "threshold": float("nan"),
                "n_dominant": 0, "frac_rows": 0.0, "share_sq_norm": 0.0, "dominated": False,
                "positions": {}, "examples": []}
    median = float(np.median(norms))
    threshold = ratio * median
    big = norms > threshold
    sq = norms * norms
    total = float(sq.sum())
    share = float(sq[big].sum() / total) if total > 0 else 0.0
    order = np.argsort(-norms[big], kind="stable")[:N_EXAMPLES]
    examples = [{"sample_id": int(s), "position": int(p), "norm": float(v)}
                for s, p, v in zip(sample_ids[big][order], positions[big][order], norms[big][order])]
    top_positions = Counter(positions[big].tolist()).most_common(N_EXAMPLES)
    return {"n_rows_read": n, "ratio": ratio, "median_norm": median, "threshold": threshold,
            "n_dominant": int(big.sum()), "frac_rows": float(big.mean()), "share_sq_norm": share,
            "dominated": share >= DOMINANT_SHARE, "positions": {int(p): int(c) for p, c in top_positions},
            "examples": examples}


def dominance_warning(hook: str, report: DominanceReport) -> str | None:

    """One line naming the dominating rows, or None when the hook is not dominated."""
    if not report.get("dominated"):
        return None
    where = ", ".join(f"position {p}: {c} rows" for p, c in report["positions"].items())
    ex = ", ".join(f"sample {e['sample_id']} pos {e['position']} (norm {e['norm']:.4g})" for e in report["examples"][:3])
    return (f"hook {hook!r}: {report['n_dominant']} rows ({100 * report['frac_rows']:.2g}% of "
            f"{report['n_rows_read']} read) above {report['ratio']:g}x the median norm {report['median_norm']:.4g} "
            f"carry {100 * report['share_sq_norm']:.3g}% of the squared norm ({where}; e.g. {ex}); a scale-normalised "
            f"SAE will fit only them: recapture with the default --massive-tokens auto (or drop)")
