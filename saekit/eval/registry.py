"""The metric registry: one metric, one file in saekit/eval/metrics/, each declaring a ``Metric``.

A metric declares its result key, the reference whose numbers it reproduces (None for saekit's own),
the suites that run it, the inputs it needs, whether its figures count rows or samples, its columns
in `saekit compare`, and its compute function. Every module of saekit.eval.metrics that defines a
module-level ``METRIC`` is discovered on first use, so adding a metric is adding one file.

Inputs (``Metric.inputs``):
  rows          the evaluated store rows and their encoding (every metric)
  labels        per-sample class labels in the store
  patch_grid    patch positions of a vision store (its patch_grid metadata)
  embedding     an independent embedding of the samples (chosen from the store's model or --ms-embeddings)
  second_sae    another SAE of the same hook (--reference-sae; every pair in `saekit compare`)
  names         a names directory with scored explanations (--names)
  model         the SAE's model (--model)
  dataset       the model and its dataset, spliced downstream (--downstream with --model and --data)
  paired        a transcoder's or crosscoder's rows: its input hooks', then its target hooks', side by side
                (saekit.eval.transcoder); such an SAE runs only the metrics that take them, and they get
                no encoding (MetricCall.enc is None): the metric encodes the input columns itself
A metric that needs only what the store holds (rows, labels, patch_grid) is a *data metric*: under a
named suite a missing input is the caller's error; under "all" it is skipped with the reason. A metric
that needs an input the caller did not give is skipped with the reason in every suite.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.config import SUITE_NAMES

if TYPE_CHECKING:
    from saekit.eval.encode import Encoded
    from saekit.eval.rows import EvalRows
    from saekit.inputs import Inputs
    from saekit.sae import SAE
    from stores import ActivationStore

INPUTS = ("rows", "labels", "patch_grid", "embedding", "second_sae", "names", "model", "dataset", "paired")
STORE_INPUTS = frozenset({"rows", "labels", "patch_grid", "paired"})


@dataclass(frozen=True)
class MetricInputs:
    """What a metric may use besides the SAE and its encoding: the caller's flags, and the command's inputs
    (its store, and the datasets and models a metric loads), each opened once."""

    inputs: Inputs
    reference: SAE | None = None
    ms_embeddings: str | None = None
    names: str | None = None
    seed: int = 0
    model: str | None = None  # the SAE's model spec (feature absorption, --downstream)
    device: str = "cpu"  # where the Monosemanticity Score's encoder and the downstream model run
    ms_max_samples: int | None = 1024
    ms_cache: dict[tuple[str, bytes], tuple[np.ndarray, np.ndarray, str]] = field(default_factory=dict)  # the chosen embedding, once for every SAE of a comparison
    data: str | None = None  # dataset spec for --downstream
    downstream: bool = False  # the caller asked for the downstream splice (--downstream)
    n_samples: int = 64  # samples for --downstream
    downstream_batch_size: int = 8
    progress: bool = False

    @property
    def source(self) -> ActivationStore:
        """The evaluated store."""
        return self.inputs.store


@dataclass(frozen=True)
class MetricCall:
    """One metric's view of an evaluation: the SAE, the rows, their one encoding, the caller's inputs."""

    sae: SAE
    rows: EvalRows
    enc: Encoded | None  # None for a transcoder's or crosscoder's paired rows
    inp: MetricInputs

    def labels(self) -> list[str]:
        """The label of every evaluated sample, in enc.sample_ids order ("" when unlabelled)."""
        return [self.rows.labels.get(int(s), "") for s in self.enc.sample_ids]


@dataclass(frozen=True)
class Column:
    """A column of the `saekit compare` table: its header and the key path into the metric's result."""

    label: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    name: str  # the result key, e.g. "spatial_coherence"
    compute: Callable[[MetricCall], JSONObject]  # the result, or {"skipped": reason}
    suites: tuple[str, ...]  # the named suites that run it ("all" runs every metric)
    inputs: tuple[str, ...]  # from INPUTS
    counts: Literal["rows", "samples"]  # what the result's n counts (the evaluation document's Metric.n)
    order: int  # position in suites, results and the compare table
    columns: tuple[Column, ...] = ()
    reference: str | None = None  # whose numbers its reference-named keys reproduce; None: saekit's own
    on_request: bool = False  # runs only when the caller asks for it (--downstream), in any suite that lists it

    def __post_init__(self) -> None:
        bad = [i for i in self.inputs if i not in INPUTS] + [s for s in self.suites if s not in SUITE_NAMES]
        if bad or "rows" not in self.inputs:
            raise SaekitError(f"metric {self.name!r}: unknown inputs or suites {bad} (inputs must include 'rows')")

    @property
    def data_only(self) -> bool:
        """True when it needs only what the store holds: a missing input is an error under a named suite."""
        return set(self.inputs) <= STORE_INPUTS


@lru_cache(maxsize=1)
def all_metrics() -> tuple[Metric, ...]:
    """Every registered metric, in order (imports every module of saekit.eval.metrics once)."""
    import saekit.eval.metrics as package

    found: dict[str, Metric] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        m = getattr(module, "METRIC", None)
        if m is None:
            continue
        if m.name in found:
            raise SaekitError(f"metric {m.name!r} is registered twice ({info.name})")
        found[m.name] = m
    return tuple(sorted(found.values(), key=lambda m: (m.order, m.name)))


def get_metric(name: str) -> Metric:
    for m in all_metrics():
        if m.name == name:
            return m
    raise SaekitError(f"unknown metric {name!r}; registered: {', '.join(m.name for m in all_metrics())}")


def suite_metrics(suite: str) -> tuple[Metric, ...]:
    """The metrics a suite runs, in order ("all": every registered metric)."""
    if suite not in SUITE_NAMES:
        raise SaekitError(f"--suite must be one of {', '.join(SUITE_NAMES)}, got {suite!r}")
    return tuple(m for m in all_metrics() if suite == "all" or suite in m.suites)


def suites() -> dict[str, tuple[str, ...]]:
    """{suite: metric names}, every suite."""
    return {s: tuple(m.name for m in suite_metrics(s)) for s in SUITE_NAMES}
