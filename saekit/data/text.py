"""Text files: one sample per non-empty line (surrounding whitespace stripped).

A single .txt file gives unlabelled samples; a directory of .txt files labels each sample with its
file's stem. Lines, not paragraphs, so that "one sentence per line" corpora and prompt lists work
as they are; join paragraphs into single lines beforehand if paragraphs are the unit you want.
"""
from __future__ import annotations

from pathlib import Path

from saekit.data.sample import Dataset, Sample
from saekit.common.errors import SaekitError


def _read_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SaekitError(f"cannot read text file {path}: {exc.strerror or exc}") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def text_files(path: Path) -> Dataset:
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise SaekitError(f"text folder {path} has no .txt files")
        labelled = True
    else:
        files = [path]
        labelled = False
    samples: list[Sample] = []
    for f in files:
        for lineno, line in _read_lines(f):
            samples.append(Sample(id=len(samples), source=f"{f.name}:{lineno}", label=f.stem if labelled else None,
                                  text=line))
    if not samples:
        raise SaekitError(f"{path} is empty: no non-empty lines of text")
    return Dataset.from_samples(str(path), samples)
