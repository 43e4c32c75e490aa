"""Which activating windows explain a latent and which are held out to score it, as delphi samples
them: the latent's activating windows, sorted by their max activation, are cut into `n_quantiles`
bands of equal count (band 0 the strongest); each band gives its share of the explaining windows
and, from the rest of the band, its share of the scoring windows. Unlike delphi (whose explaining
and scoring samples are drawn from the same windows independently), the two never share a window.

A latent with fewer activating windows than both samples need splits what it has in the same
proportion, at least one window each way. Non-activating windows are drawn at random from the
windows where the latent never fires (negatives.py holds the "similar" alternative)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Picked:
    """Activating windows chosen for one latent: positions in its max-sorted list, with their band."""

    explain: tuple[tuple[int, int], ...]  # (rank in the sorted windows, quantile band)
    score: tuple[tuple[int, int], ...]


def spread(total: int, capacity: np.ndarray) -> np.ndarray:
    """`total` items over bins of the given capacities, as evenly as possible (one at a time,
    strongest band first), never over a bin's capacity."""
    alloc = np.zeros(len(capacity), np.int64)
    room = np.asarray(capacity, np.int64).copy()
    left = int(min(total, room.sum()))
    while left > 0:
        for i in range(len(room)):
            if left and room[i] > alloc[i]:
                alloc[i] += 1
                left -= 1
    return alloc


def sample_sizes(n_windows: int, n_explain: int, n_score: int) -> tuple[int, int]:
    """(explaining, scoring) windows for a latent with `n_windows` activating windows (>= 2)."""
    if n_windows >= n_explain + n_score:
        return n_explain, n_score
    n_e = int(round(n_windows * n_explain / (n_explain + n_score)))
    n_e = min(max(1, n_e), n_windows - 1)
    return n_e, n_windows - n_e


def split_quantiles(n_windows: int, n_explain: int, n_score: int, n_quantiles: int,
                    rng: np.random.Generator) -> Picked:
    """Explaining and scoring windows across the activation bands of `n_windows` windows sorted by
    their max activation (strongest first)."""
    n_e, n_s = sample_sizes(n_windows, n_explain, n_score)
    bands = [b for b in np.array_split(np.arange(n_windows), min(n_quantiles, n_windows)) if len(b)]
    sizes = np.array([len(b) for b in bands])
    e_alloc = spread(n_e, sizes)
    s_alloc = spread(n_s, sizes - e_alloc)
    explain, score = [], []
    for q, (band, e, s) in enumerate(zip(bands, e_alloc, s_alloc)):
        order = band[rng.permutation(len(band))]
        explain += [(int(i), q) for i in order[:e]]
        score += [(int(i), q) for i in order[e:e + s]]
    return Picked(explain=tuple(sorted(explain)), score=tuple(score))


def random_negatives(n_windows_total: int, activating: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` window numbers (or all there are) where the latent never fires, drawn at random."""
    silent = np.setdiff1d(np.arange(n_windows_total, dtype=np.int64), activating, assume_unique=False)
    if len(silent) <= n:
        return silent
    return np.sort(rng.choice(silent, size=n, replace=False))
