"""Resolve a URL's relative path inside one of the output directories the dashboard was given.

The only files the app ever reads on a request are images under those roots: no `..`, no
absolute paths, no symlink escaping a root, and only raster image extensions.
"""
from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
        ".webp": "image/webp"}


def resolve_inside(root: Path, relative: str) -> Path | None:
    """The real path of `root/relative` when it is an existing image file inside `root`, else None."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    if relative.startswith("/") or any(part in ("..", "") for part in relative.split("/")):
        return None
    root_real = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root_real, relative))
    if os.path.commonpath([root_real, target]) != root_real or target == root_real:
        return None
    if Path(target).suffix.lower() not in IMAGE_EXTENSIONS or not os.path.isfile(target):
        return None
    return Path(target)
