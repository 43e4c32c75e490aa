"""An image folder: every sub-folder is a class label; images directly in the root have no label."""
from __future__ import annotations

from pathlib import Path

from saekit.data.sample import Dataset, Sample
from saekit.common.errors import SaekitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def open_image(path: Path):
    """Decode one image fully as RGB, or SaekitError naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise SaekitError(f"cannot read image {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def image_folder(root: Path) -> Dataset:
    """Files are listed once, sorted by (label, relative path), and decoded when a sample is read."""
    files = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: (p.parent != root, p.relative_to(root).as_posix()))
    if not files:
        raise SaekitError(f"image folder {root} is empty: no files ending in {', '.join(IMAGE_SUFFIXES[:5])}, ...")
    labels = [None if p.parent == root else p.relative_to(root).parts[0] for p in files]

    def get(i: int) -> Sample:
        return Sample(id=i, source=files[i].relative_to(root).as_posix(), label=labels[i], image=open_image(files[i]))

    return Dataset(str(root), "image", len(files), get, labels=sorted({l for l in labels if l is not None}))
