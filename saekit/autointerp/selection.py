"""Which latents a run explains, by their window frequency (the fraction of windows they fire in).

Default: a seeded sample across the firing-frequency range: the eligible latents, sorted by
frequency, are cut into `max_latents` strata of equal count and one latent is drawn from each, so
rare and common latents are explained alike (never just the densest). Eligible: firing in at least
`min_windows` windows and in at most `dense_fraction` of them. A dense latent, firing almost
everywhere, is reported as dense instead of explained against the few windows where it is silent;
a latent with too few windows to both explain and score it is reported as too rare."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saekit.autointerp.windows import WindowTable
from saekit.common.errors import SaekitError
from saekit.results.names import SkippedLatent


@dataclass(frozen=True)
class Choice:
    latents: tuple[int, ...]      # to explain, by index
    skipped: tuple[SkippedLatent, ...]  # asked for (or dense) but not explained, with the reason
    n_eligible: int               # latents the sample was drawn from


def _reason(table: WindowTable, latent: int, dense_fraction: float, min_windows: int) -> str | None:
    n = int(table.fire_count[latent])
    if n == 0:
        return "never fires"
    if table.window_freq[latent] > dense_fraction:
        return "dense"
    if n < min_windows:
        return "too rare"
    return None


def _skip(table: WindowTable, latent: int, reason: str) -> SkippedLatent:
    return SkippedLatent(latent=int(latent), reason=reason, window_freq=float(table.window_freq[latent]),
                   n_windows=int(table.fire_count[latent]))


def choose_latents(table: WindowTable, latents: tuple[int, ...], choose: str, max_latents: int,
                   dense_fraction: float, min_windows: int, seed: int) -> Choice:
    d_sae = len(table.fire_count)
    if latents:
        bad = [i for i in latents if i >= d_sae]
        if bad:
            raise SaekitError(f"--latents {bad} out of range: the SAE has {d_sae} latents")
        wanted = [int(i) for i in dict.fromkeys(latents)]
    else:
        wanted = list(range(d_sae))
    reasons = {i: _reason(table, i, dense_fraction, min_windows) for i in wanted}
    eligible = [i for i in wanted if reasons[i] is None]
    if latents:  # everything asked for is explained or accounted for
        skipped = [_skip(table, i, r) for i, r in reasons.items() if r is not None]
        return Choice(tuple(eligible), tuple(skipped), len(eligible))
    skipped = [_skip(table, i, r) for i, r in reasons.items() if r == "dense"]
    if choose == "all" or len(eligible) <= max_latents:
        return Choice(tuple(eligible), tuple(skipped), len(eligible))
    by_freq = np.asarray(eligible)[np.argsort(table.fire_count[eligible], kind="stable")]
    rng = np.random.default_rng([seed, 25])
    picks = [int(s[rng.integers(len(s))]) for s in np.array_split(by_freq, max_latents)]
    return Choice(tuple(sorted(picks)), tuple(skipped), len(eligible))
