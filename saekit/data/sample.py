"""A dataset is an indexable list of `Sample`s; images are decoded lazily, one at a time."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from PIL import Image

MODALITIES = ("image", "text", "image-text")


@dataclass(frozen=True)
class Sample:
    """One input. `id` is its index in the dataset (the store's sample_id); `source` a path or id."""

    id: int
    source: str
    label: str | None = None
    text: str | None = None
    image: Image.Image | None = None


    def record(self) -> dict:
        """What the store keeps per sample in /samples."""
        return {"source": self.source, "label": self.label or "", "text": self.text or ""}


class Dataset:
    """`len(ds)`, `ds[i] -> Sample`, `ds.modality`, `ds.name`, `ds.labels` (sorted distinct labels).

    Dataset(name, modality, n, get)          get(i) -> Sample, called lazily (decode images there)
    Dataset.from_samples(name, samples)      an in-memory list; modality inferred from the samples
    """

    def __init__(self, name: str, modality: str, n: int, get: Callable[[int], Sample],
                 labels: Sequence[str] | None = None):
        if modality not in MODALITIES:
            raise SaekitError(f"dataset modality {modality!r} is not one of {', '.join(MODALITIES)}")
        if n <= 0:
            raise SaekitError(f"dataset {name!r} is empty: it has no samples")
        self.name = name
        self.modality = modality
        self._n = int(n)
        self._get = get
        self._labels = list(labels) if labels is not None else None

    @classmethod
    def from_samples(cls, name: str, samples: Sequence[Sample]) -> "Dataset":
        samples = list(samples)
        if not samples:
            raise SaekitError(f"dataset {name!r} is empty: it has no samples")
        has_img = all(s.image is not None for s in samples)
        has_txt = all(s.text is not None for s in samples)
        modality = "image-text" if has_img and has_txt else "image" if has_img else "text"
        if not has_img and not has_txt:
            raise SaekitError(f"dataset {name!r}: every sample needs an image or a text")
        labels = sorted({s.label for s in samples if s.label is not None})
        return cls(name, modality, len(samples), samples.__getitem__, labels=labels)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Sample:
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return self._get(i % self._n)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(self._n):
            yield self._get(i)

    @property
    def labels(self) -> list[str]:
        if self._labels is None:
            self._labels = sorted({s.label for s in self if s.label is not None})
        return list(self._labels)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, modality={self.modality!r}, n={self._n})"
