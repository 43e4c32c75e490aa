"""`saekit store info` and `saekit store verify`: inspect and check an activation store.

``store_info(StoreInfoConfig(path))`` -> ``StoreInfo`` (the store's layout and its typed metadata);
``store_verify(StoreVerifyConfig(path))`` -> ``StoreCheck`` (raises StoreError naming the first
damage when the store is damaged).
"""
from __future__ import annotations

from dataclasses import dataclass

from saekit.common.jsontypes import JSONObject
from saekit.results.store_meta import StoreMetadata
from saekit.store.config import StoreInfoConfig, StoreVerifyConfig

INFO_DOMINANCE_ROWS = 1 << 18  # leading rows per hook read for the dominating-rows check


@dataclass(frozen=True)
class StoreInfo:
    """What `saekit store info` reports: ``info`` is ``ActivationStore.info()`` plus the row-dominance
    check per hook (and per-hook stats when asked), ``metadata`` the store's typed attributes."""

    info: JSONObject
    metadata: StoreMetadata
    warnings: tuple[str, ...] = ()  # rows that dominate a hook's energy, one line each

    def to_json(self) -> JSONObject:
        return self.info


@dataclass(frozen=True)
class StoreCheck:
    path: str
    complete: bool              # False: the writer did not close it (a capture can resume)
    n_samples: int
    rows: dict[str, int]        # committed rows per hook


def store_info(cfg: StoreInfoConfig) -> StoreInfo:
    from stores import ActivationStore
    from stores.dominance import dominance_warning, row_dominance

    warnings = []
    with ActivationStore.open(cfg.path) as s:
        info = s.info()
        info["dominance"] = {}
        for h in s.hooks:
            if s.n_rows(h):
                dom = row_dominance(s, h, max_rows=INFO_DOMINANCE_ROWS)
                info["dominance"][h] = dom
                warnings.append(dominance_warning(h, dom))
        if cfg.stats:
            for h in s.hooks:
                st = s.stats(h)
                info["hooks"][h]["stats"] = {
                    "norm_quantiles": {str(q): v for q, v in st["norm_quantiles"].items()},
                    "mean_sq_norm": st["mean_sq_norm"],
                    "n_nonfinite": st["n_nonfinite"],
                }
        meta = StoreMetadata.from_store(s)
    return StoreInfo(info, meta, tuple(w for w in warnings if w))


def store_verify(cfg: StoreVerifyConfig) -> StoreCheck:
    from stores import ActivationStore, StoreError, verify_store

    problems = verify_store(cfg.path)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StoreError(f"{cfg.path}: store damaged: {problems[0]}{more}")
    with ActivationStore.open(cfg.path) as s:
        return StoreCheck(str(cfg.path), bool(s.complete), int(s.n_samples), {h: int(s.n_rows(h)) for h in s.hooks})
