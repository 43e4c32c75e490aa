"""The feature list's server side: sort, filter, search and paginate every latent with numpy.

The DataTable only ever receives one page of rows; orderings are computed once per column so a
query over 100k latents is a handful of vectorised passes (milliseconds), not a Python loop.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Union

import numpy as np

COLUMNS: tuple[str, ...] = ("latent", "name", "freq", "mean_act", "mono", "explanation", "detection")
TEXT: frozenset[str] = frozenset({"name", "explanation"})
#: one DataTable row: column -> its value (None where a number is not known)
Row = dict[str, Union[int, float, str, None]]


# Dash's filter_query operators (both the symbolic and the word spelling) -> numpy comparisons.
_NUM_OPS = {
    "=": np.equal, "eq": np.equal, "!=": np.not_equal, "ne": np.not_equal,
    "<": np.less, "lt": np.less, "<=": np.less_equal, "le": np.less_equal,
    ">": np.greater, "gt": np.greater, ">=": np.greater_equal, "ge": np.greater_equal,
}
_TERM = re.compile(
    r"^\s*\{(?P<col>[^}]+)\}\s*(?P<op>s?(?:<=|>=|!=|<|>|=)|[is]?contains|eq|ne|lt|le|gt|ge|"
    r"datestartswith)\s*(?P<val>.*?)\s*$"
)


@dataclass(frozen=True)
class Page:
    """One page of the feature list: DataTable rows plus where they sit in the filtered list."""

    rows: list[Row]
    page_count: int
    n_matching: int


@dataclass
class FeatureCatalog:
    """Per-latent columns: names from names.json, statistics from the latent summaries."""

    names: np.ndarray      # [n] str ("" when unnamed)
    freq: np.ndarray       # [n] float
    mean_act: np.ndarray   # [n] float
    mono: np.ndarray       # [n] float, NaN when no Monosemanticity Score is known
    explanation: np.ndarray | None = None  # [n] str from `saekit explain` ("" when unexplained)
    detection: np.ndarray | None = None    # [n] float, detection balanced accuracy, NaN when unscored
    _lower: np.ndarray = field(init=False, repr=False)
    _expl_lower: np.ndarray = field(init=False, repr=False)
    _orders: dict[tuple[str, bool], np.ndarray] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.freq)
        if not (len(self.names) == len(self.mean_act) == len(self.mono) == n):
            raise ValueError("FeatureCatalog columns must all have one entry per latent")
        self._lower = np.char.lower(self.names.astype(str))
        if self.explanation is None:
            self.explanation = np.full(n, "", dtype=object).astype(str)
        if self.detection is None:
            self.detection = np.full(n, np.nan)
        self._expl_lower = np.char.lower(self.explanation.astype(str))

    @property
    def n(self) -> int:
        return len(self.freq)

    def column(self, col: str) -> np.ndarray:
        if col == "latent":
            return np.arange(self.n)
        if col == "name":
            return self._lower
        if col == "explanation":
            return self._expl_lower
        return {"freq": self.freq, "mean_act": self.mean_act, "mono": self.mono, "detection": self.detection}[col]

    def order(self, col: str, descending: bool) -> np.ndarray:
        """Latent indices sorted by one column; NaN and unnamed entries always go last."""
        key = (col, descending)
        if key not in self._orders:
            values = self.column(col)
            if col in TEXT:
                missing = values == ""
                idx = np.argsort(values, kind="stable")
                if descending:
                    idx = idx[::-1]
                idx = np.concatenate([idx[~missing[idx]], idx[missing[idx]]])
            else:
                values = values.astype(np.float64)
                missing = np.isnan(values)
                filled = np.where(missing, 0.0, -values if descending else values)
                idx = np.lexsort((np.arange(self.n), filled, missing))
            self._orders[key] = idx
        return self._orders[key]

    def mask(self, search: str = "", filter_query: str = "") -> np.ndarray:
        """Latents whose name contains `search` (or whose index is `#i` / `i`) and that pass the filter."""
        keep = np.ones(self.n, dtype=bool)
        search = (search or "").strip().lower()
        if search:
            by_index = re.fullmatch(r"#?(\d+)", search)
            hit = (np.char.find(self._lower, search) >= 0) | (np.char.find(self._expl_lower, search) >= 0)
            if by_index is not None:
                i = int(by_index.group(1))
                if 0 <= i < self.n:
                    hit[i] = True
            keep &= hit
        for term in _split_terms(filter_query):
            keep &= self._apply_term(term)
        return keep

    def query(self, *, search: str = "", filter_query: str = "", sort_by: list[dict] | None = None,
              page: int = 0, page_size: int = 25) -> Page:
        col, desc = "freq", True
        if sort_by:
            first = sort_by[0]
            if first.get("column_id") in COLUMNS:
                col, desc = first["column_id"], first.get("direction") == "desc"
        order = self.order(col, desc)
        keep = self.mask(search, filter_query)
        chosen = order[keep[order]]
        n_match = int(chosen.size)
        page_count = max(1, math.ceil(n_match / page_size))
        page = min(max(int(page or 0), 0), page_count - 1)
        ids = chosen[page * page_size:(page + 1) * page_size]
        return Page(rows=[self.row(int(i)) for i in ids], page_count=page_count, n_matching=n_match)

    def row(self, i: int) -> Row:

        def num(x: float, digits: int) -> float | None:
            return None if not np.isfinite(x) else round(float(x), digits)

        return {
            "latent": i,
            "name": str(self.names[i]) or "—",
            "freq": num(self.freq[i], 6),
            "mean_act": num(self.mean_act[i], 4),
            "mono": num(self.mono[i], 3),
            "explanation": str(self.explanation[i]) or "—",
            "detection": num(self.detection[i], 3),
        }

    def _apply_term(self, term: str) -> np.ndarray:
        m = _TERM.match(term)
        if m is None or m.group("col") not in COLUMNS:
            return np.ones(self.n, dtype=bool)  # an unparsable term filters nothing (and cannot crash)
        col, op, raw = m.group("col"), m.group("op"), _unquote(m.group("val"))
        op = op[1:] if op[:1] == "s" and op != "scontains" else op
        if col in TEXT or op.endswith("contains") or op == "datestartswith":
            needle = raw.lower()
            text = self._expl_lower if col == "explanation" else self._lower
            if op in _NUM_OPS and op in ("=", "eq"):
                return text == needle
            if op in ("!=", "ne"):
                return text != needle
            return np.char.find(text, needle) >= 0
        try:
            value = float(raw)
        except ValueError:
            return np.ones(self.n, dtype=bool)
        values = self.column(col).astype(np.float64)
        with np.errstate(invalid="ignore"):
            return _NUM_OPS.get(op, np.equal)(values, value) & ~np.isnan(values)


def _split_terms(filter_query: str) -> list[str]:
    return [t for t in re.split(r"\s+&&\s+", (filter_query or "").strip()) if t.strip()]


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'`":
        return raw[1:-1]
    return raw
