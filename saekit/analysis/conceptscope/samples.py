"""The audit's labelled images: what a sample must offer, a lazy view of dataset rows, the checks every
path makes (non-empty, images, labels), the per-class alignment sample and the test hold-out."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, overload

import numpy as np

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from PIL.Image import Image

    from saekit.data import Dataset

SampleId = int | str


class LabelledImage(Protocol):
    """A sample the audit reads (saekit.data.Sample has these fields)."""

    @property
    def id(self) -> SampleId: ...

    @property
    def source(self) -> str: ...

    @property
    def label(self) -> str | None: ...

    @property
    def image(self) -> Image | None: ...


Samples = Sequence[LabelledImage]


def class_index(labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Sorted class names and each sample's class index."""
    names = sorted({str(x) for x in labels})
    lookup = {n: i for i, n in enumerate(names)}
    return names, np.array([lookup[str(x)] for x in labels], dtype=np.int64)


class SampleView(Sequence[LabelledImage]):
    """Index / slice access to a lazily decoded dataset restricted to `rows`, so the audit never holds
    every decoded image at once."""

    def __init__(self, dataset: Dataset, rows: Sequence[int] | None = None):
        self.dataset = dataset
        self.rows = list(range(len(dataset))) if rows is None else list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> LabelledImage: ...

    @overload
    def __getitem__(self, i: slice) -> list[LabelledImage]: ...

    def __getitem__(self, i: int | slice) -> LabelledImage | list[LabelledImage]:
        if isinstance(i, slice):
            return [self.dataset[r] for r in self.rows[i]]
        return self.dataset[self.rows[i]]


def sample_meta(samples: Samples, what: str) -> tuple[list[SampleId], list[str]]:
    """(ids, labels) in one pass, with the checks every path needs: non-empty, images, labels."""
    if len(samples) == 0:
        raise SaekitError(f"the {what} is empty; the audit needs labelled images (a folder with one sub-folder per class)")
    ids: list[SampleId] = []
    labels: list[str] = []
    missing: list[str] = []
    for i in range(len(samples)):
        s = samples[i]
        if i == 0 and getattr(s, "image", None) is None:
            raise SaekitError(f"the {what} has no images (sample {getattr(s, 'source', s.id)!r}); the audit needs an image dataset")
        ids.append(s.id.item() if isinstance(s.id, np.generic) else s.id)
        if getattr(s, "label", None) in (None, ""):
            missing.append(getattr(s, "source", str(s.id)))
        labels.append(str(s.label))
    if missing:
        raise SaekitError(f"{len(missing)} image(s) of the {what} have no label (first: {missing[0]!r}); "
                          "the audit needs a class label per image (sub-folders = classes)")
    return ids, labels


def sample_class_rows(labels_N: np.ndarray, c: int, n: int, seed: int) -> np.ndarray:
    """The same `n` rows of class c for a given seed, whatever path asks (sorted)."""
    rows = np.flatnonzero(labels_N == c)
    if len(rows) <= n:
        return rows
    rng = np.random.default_rng([seed, c])
    return np.sort(rng.choice(rows, size=n, replace=False))


def holdout_split(labels: Sequence[str], test_frac: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified split of row indices: `test_frac` of each class's images (at least one when a class has
    two or more and test_frac > 0) go to the test rows."""
    if not 0.0 <= test_frac < 1.0:
        raise SaekitError(f"--test-frac must be in [0, 1), got {test_frac}")
    n = len(labels)
    if test_frac == 0.0 or n == 0:
        return list(range(n)), []
    _, idx = class_index(labels)
    rng = np.random.default_rng(seed)
    test = np.zeros(n, bool)
    for c in np.unique(idx):
        rows = np.flatnonzero(idx == c)
        n_test = max(1, int(round(test_frac * len(rows)))) if len(rows) > 1 else 0
        test[rng.permutation(rows)[:n_test]] = True
    return np.flatnonzero(~test).tolist(), np.flatnonzero(test).tolist()
