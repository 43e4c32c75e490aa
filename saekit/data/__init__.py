"""Datasets as lists of samples: `load_dataset(spec)`.

Specs: a directory of images (sub-folders are labels), a .txt file (one sample per non-empty
line), a directory of .txt files (label = file stem), `hfds:<dir>` (datasets.save_to_disk) and
`bundled:<name>` (datasets shipped inside saekit).
"""
from __future__ import annotations

from pathlib import Path

from saekit.data.sample import MODALITIES, Dataset, Sample
from saekit.common.errors import SaekitError

__all__ = ["load_dataset", "Dataset", "Sample", "MODALITIES"]

SPEC_FORMS = ("<image folder>", "<file.txt>", "<folder of .txt>", "hfds:<dir>", "bundled:<name>")


def load_dataset(spec: str) -> Dataset:
    if spec.startswith("hfds:"):
        from saekit.data.hfds import hf_saved_dataset

        return hf_saved_dataset(Path(spec[len("hfds:"):]))
    if spec.startswith("bundled:"):
        try:
            from saekit.data.bundled import load_bundled
        except ImportError as exc:
            raise SaekitError(f"{spec}: bundled datasets are not available in this build ({exc})") from None
        return load_bundled(spec[len("bundled:"):])
    path = Path(spec)
    if not path.exists():
        raise SaekitError(f"dataset {spec!r} does not exist; expected one of {', '.join(SPEC_FORMS)}")
    if path.is_file():
        if path.suffix.lower() != ".txt":
            raise SaekitError(f"dataset file {spec!r} is not a .txt file; expected one of {', '.join(SPEC_FORMS)}")
        from saekit.data.text import text_files

        return text_files(path)
    from saekit.data.images import IMAGE_SUFFIXES, image_folder

    has_txt = any(path.glob("*.txt"))
    has_images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*") if p.is_file())
    if has_txt and not has_images:
        from saekit.data.text import text_files

        return text_files(path)
    return image_folder(path)
