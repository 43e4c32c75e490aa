"""SAE specs: `[FORMAT:]PATH` where PATH is a local path or `hf:<owner>/<repo>[@revision]/<path in repo>`.

Hub paths are fetched with huggingface_hub (its cache; HF_HUB_OFFLINE=1 makes it use the cache
only) and only when a spec names one.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from saekit.common.errors import SaekitError
from stores.fingerprint import fingerprint

log = logging.getLogger(__name__)

FORMAT_NAMES = ("saekit", "saelens", "sparsify", "dictlearn", "saev", "gemmascope")


@dataclass(frozen=True)
class HubRef:
    repo: str
    revision: str | None
    path: str  # inside the repo, "" for the repo root

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"hf:{self.repo}{rev}/{self.path}".rstrip("/")


@dataclass(frozen=True)
class SAESpec:
    text: str  # as given
    format: str | None  # None: detect from the files
    local: Path | None  # a local path ...
    hub: HubRef | None  # ... or a hub reference


def parse_spec(spec: str | os.PathLike) -> SAESpec:
    text = os.fspath(spec)
    fmt = None
    rest = text
    head, sep, tail = text.partition(":")
    if sep and head in FORMAT_NAMES:
        fmt, rest = head, tail
    elif sep and head and head not in ("hf",) and "/" not in head and len(head) > 1 and not Path(text).exists():
        raise SaekitError(f"--sae {text!r}: unknown format prefix {head + ':'!r} "
                          f"(expected one of {', '.join(f + ':' for f in FORMAT_NAMES)} or a path)")
    if not rest:
        raise SaekitError(f"--sae {text!r} names no path after the format prefix")
    if rest.startswith("hf:"):
        return SAESpec(text, fmt, None, _parse_hub(text, rest[3:]))
    return SAESpec(text, fmt, Path(rest).expanduser(), None)


def _parse_hub(text: str, ref: str) -> HubRef:
    parts = ref.strip("/").split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise SaekitError(f"--sae {text!r}: a hub path is hf:<owner>/<repo>[@revision]/<path inside the repo>")
    name, _, revision = parts[1].partition("@")
    return HubRef(f"{parts[0]}/{name}", revision or None, "/".join(parts[2:]))


def fetch_hub(ref: HubRef) -> Path:
    """The local copy of ref (a file or folder in the huggingface_hub cache), downloaded if needed."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - transformers depends on it
        raise SaekitError(f"{ref} needs the huggingface_hub package ({exc})") from None
    patterns = [ref.path, f"{ref.path}/*", f"{ref.path}/**"] if ref.path else None
    try:
        root = Path(snapshot_download(ref.repo, revision=ref.revision, allow_patterns=patterns))
    except Exception as exc:  # huggingface_hub raises many types (offline, missing repo, network)
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = " (HF_HUB_OFFLINE is set: only the local cache is used)" if offline else ""
        raise SaekitError(f"{ref} cannot be fetched{hint}: {type(exc).__name__}: {why}") from None
    local = root / ref.path if ref.path else root
    if not local.exists():
        raise SaekitError(f"{ref}: {ref.path!r} does not exist in {ref.repo}"
                          + (f" at revision {ref.revision}" if ref.revision else ""))
    log.info("%s -> %s", ref, local)
    return local


def resolve(spec: SAESpec) -> Path:
    """The local file or folder a spec points at (fetching hub paths); SaekitError when missing."""
    if spec.hub is not None:
        return fetch_hub(spec.hub)
    assert spec.local is not None
    if not spec.local.exists():
        raise SaekitError(f"--sae {spec.text}: {spec.local} does not exist")
    return spec.local


def work_dir(spec: str | os.PathLike) -> Path:
    """Where analyses may cache files for this SAE (latent summaries): a saekit checkpoint's own
    folder, and for foreign SAEs a folder under SAEKIT_CACHE (default ~/.cache/saekit/foreign), so
    that nothing is written into another library's files or the hub cache."""
    parsed = parse_spec(spec)
    if parsed.format in (None, "saekit") and parsed.local is not None and (parsed.local / "weights.safetensors").is_file():
        return parsed.local
    base = Path(os.environ.get("SAEKIT_CACHE", Path.home() / ".cache" / "saekit")) / "foreign"
    key = str(parsed.hub) if parsed.hub is not None else str(parsed.local.resolve())  # type: ignore[union-attr]
    digest = fingerprint(f"{parsed.format}|{key}")
    return base / digest
