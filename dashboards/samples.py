"""Samples as the views show them: store records, their images, and a latent's per-token activations.

The Flask image route only ever passes integers (sample id, latent, size) in here; the file a
sample points at comes from the store's own records, is decoded with PIL and re-encoded, and
rendered PNGs are kept in a bounded LRU cache.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from dashboards import imaging
from dashboards.inputs import DashboardInputs
from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject


log = logging.getLogger(__name__)

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


class _LRU:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.maxsize:
                self._d.popitem(last=False)

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        """The cached value, else ``make()`` (cached unless it is None)."""
        value = self.get(key)
        if value is None:
            value = make()
            if value is not None:
                self.put(key, value)
        return value


class SampleSource:
    """Records, images and token activations of the store's samples, with caches."""

    def __init__(self, inputs: DashboardInputs, png_cache: int = 4096) -> None:
        self.inputs = inputs
        self.store = inputs.store
        s = inputs.summaries
        self.summaries = s
        self._png = _LRU(png_cache)
        self._images = _LRU(256)
        self._encode_lock = threading.Lock()
        base = inputs.store_path
        self._store_dir = (base if base is not None and base.is_dir() else (base.parent if base else None))
        self._dataset: Any = None
        self.is_text = self._detect_text()
        meta = inputs.meta
        self.patch_grid = meta.patch_grid
        self.n_prefix = int(meta.n_prefix_tokens or 0)
        self._names_tokens = self._tokens_from_names()

    # ------------------------------------------------------------------ records
    def record(self, sample_id: int) -> JSONObject | None:

        try:
            return dict(self.store.samples[int(sample_id)])
        except (KeyError, ValueError, TypeError, IndexError):
            return None

    def label(self, sample_id: int) -> str:
        rec = self.record(sample_id) or {}
        label = rec.get("label")
        return "" if label is None else str(label)

    def _detect_text(self) -> bool:
        """Text samples? From the store metadata; for stores saekit did not capture, from the samples."""
        meta = self.inputs.meta
        if meta.dataset_modality or meta.modality or meta.patch_grid:
            return meta.sample_modality == "text"
        if meta.tokens == "patches":
            return False
        for sid in list(self.store.samples)[:8]:
            rec = self.store.samples[sid]
            src = str(rec.get("source") or "")
            if Path(src).suffix.lower() in _IMAGE_SUFFIXES or src.startswith("bundled:") and "clip" in src:
                return False
            if rec.get("text"):
                return True
        return False

    # ------------------------------------------------------------------ images
    def image(self, sample_id: int) -> Image.Image | None:
        return self._images.get_or_make(sample_id, lambda: self._load_image(sample_id))

    def _load_image(self, sample_id: int) -> Image.Image | None:
        rec = self.record(sample_id)
        if rec is None:
            return None
        rec["_sample_id"] = int(sample_id)
        return self._open_source(rec)

    def _open_source(self, rec: JSONObject) -> Image.Image | None:
        src = rec.get("source")
        if not src:
            return None
        candidates = []
        p = Path(str(src))
        if p.is_absolute():
            candidates.append(p)
        else:
            data_root = self._data_root()
            if data_root is not None:
                candidates.append(data_root / p)
            if self._store_dir is not None:
                candidates.append(self._store_dir / p)
        for path in candidates:
            if path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file():
                try:
                    with Image.open(path) as im:
                        im.load()
                        return im.convert("RGB")
                except (UnidentifiedImageError, OSError) as exc:
                    log.warning("sample image %s could not be decoded: %s", path, exc)
                    return None
        return self._open_dataset_item(rec)

    def _data_root(self) -> Path | None:
        """The image folder the store was captured from (store attrs "data"), when it is a directory."""
        data = self.inputs.meta.data
        if data and ":" not in data.split("/")[0]:
            root = Path(data)
            if not root.is_absolute() and self._store_dir is not None and not root.is_dir():
                root = self._store_dir / root
            return root if root.is_dir() else None
        return None

    def _open_dataset_item(self, rec: JSONObject) -> Image.Image | None:
        """Samples whose source is no file (bundled data, saved HF datasets): read the dataset the
        store was captured from, and use item `sample_id` only if its source matches the record."""
        sid = rec.get("_sample_id")
        data = self.inputs.meta.data
        if sid is None or not data:
            return None
        if self._dataset is None:
            try:  # through the inputs, so the dataset is loaded once per app
                self._dataset = self.inputs.source.load_dataset(data)
            except Exception as exc:  # noqa: BLE001 - no dataset means no images, not a broken page
                log.warning("cannot open the store's dataset %r for images: %s", data, exc)
                self._dataset = False
        if not self._dataset or not 0 <= int(sid) < len(self._dataset):
            return None
        try:
            item = self._dataset[int(sid)]
        except Exception as exc:  # noqa: BLE001
            log.warning("dataset item %s could not be read: %s", sid, exc)
            return None
        if str(item.source) != str(rec.get("source")) or item.image is None:
            return None
        return item.image.convert("RGB")

    # ------------------------------------------------------------------ activations
    def top_slot(self, latent: int, sample_id: int) -> int | None:
        hits = np.flatnonzero(self.summaries.top_sample_ids[latent] == sample_id)
        return int(hits[0]) if hits.size else None

    def token_acts(self, latent: int, sample_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(acts [T], positions [T]) of `latent` on every token of the sample, or None."""
        s = self.summaries
        k = self.top_slot(latent, sample_id)
        if k is not None:
            pos = np.asarray(s.top_positions[latent, k])
            keep = pos >= 0
            if not keep.any():
                keep[0] = True
            return np.asarray(s.top_token_acts[latent, k], dtype=np.float32)[keep], pos[keep].astype(np.int64)
        z = self.encode_sample(sample_id)
        if z is None:
            return None
        acts_TL, pos = z
        return acts_TL[:, latent], pos

    def encode_sample(self, sample_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        """All latents on every token of one sample: (z [T, d_sae], positions [T]); needs the SAE."""
        sae = self.inputs.sae
        if sae is None or not hasattr(self.store, "rows_for_sample"):
            return None
        try:
            acts, pos = self.store.rows_for_sample(self.summaries.hook, int(sample_id))
        except Exception as exc:  # noqa: BLE001 - an unknown id is a normal "not found"
            log.debug("no rows for sample %s: %s", sample_id, exc)
            return None
        if len(acts) == 0:
            return None
        import torch

        with self._encode_lock, torch.no_grad():
            param = sae.W_dec
            z = sae.encode(torch.as_tensor(np.asarray(acts), dtype=param.dtype, device=param.device))
        return z.float().cpu().numpy(), np.asarray(pos, dtype=np.int64)

    # ------------------------------------------------------------------ tokens (text stores)
    def _tokens_from_names(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for e in self.inputs.names.latents if self.inputs.names is not None else ():
            for t in e.top:
                if t.tokens and t.sample_id not in out:
                    out[t.sample_id] = [tok for tok, _ in t.tokens]
        return out

    def tokens(self, sample_id: int) -> list[str] | None:
        """Token strings of a text sample in position order, when known."""
        rec = self.record(sample_id) or {}
        toks = rec.get("tokens")
        if isinstance(toks, list) and toks:
            return [str(t) for t in toks]
        if sample_id in self._names_tokens:
            return self._names_tokens[sample_id]
        model = self.inputs.loaded_model
        if model is None and self.inputs.model_spec and rec.get("text"):
            try:  # the tokenizer comes with the model, loaded on first use
                model = self.inputs.get_model()
            except SaekitError:
                model = None
        tok = getattr(model, "tokenizer", None)
        text = rec.get("text")
        if tok is not None and text:
            try:
                ids = tok(text)["input_ids"]
                return [tok.decode([i]) for i in ids]
            except Exception:  # noqa: BLE001
                return None
        return None

    # ------------------------------------------------------------------ PNG
    def png(self, sample_id: int, latent: int | None, size: int) -> bytes | None:
        """The sample's image (with the latent's heatmap when given) as PNG, or None if it has none."""
        size = imaging.nearest_size(size)
        key = (int(sample_id), None if latent is None else int(latent), size)
        return self._png.get_or_make(key, lambda: self._render_png(sample_id, latent, size))

    def _render_png(self, sample_id: int, latent: int | None, size: int) -> bytes | None:
        img = self.image(sample_id)
        if img is None:
            return None
        grid = None
        scale = 1.0
        if latent is not None and 0 <= latent < self.inputs.d_sae:
            acts = self.token_acts(latent, sample_id)
            if acts is not None:
                grid = (imaging.place_on_grid(*acts, self.patch_grid, self.n_prefix) if self.patch_grid
                        else imaging.patch_grid(*acts))
                scale = float(self.summaries.max_act[latent]) or float(np.max(acts[0], initial=1.0))
        return imaging.to_png(imaging.overlay(img, grid, scale, size, self.inputs.meta.preprocessing,
                                              self.inputs.meta.image_size))
