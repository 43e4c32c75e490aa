"""Inputs with known answers for the dashboard's tests and benchmark (no model, no training).

`tiny_pipeline` writes a real store (images with a coloured shape in one patch), a hand-built SAE
whose first latents read the shape's class at that patch, and real latent summaries computed
from them; `write_names` / `write_audit` / `write_artifacts` write output directories that follow
docs/architecture.md's schemas exactly. `synthetic_summaries` builds LatentSummaries of any size
directly (for the 16k-latent x 100k-sample benchmark).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

HOOK = "blocks.1.hook_resid_post"
CLASSES = ("circle", "square", "triangle")
COLOURS = {"circle": (224, 49, 49), "square": (28, 126, 214), "triangle": (47, 158, 68)}


@dataclass(frozen=True)
class TinyPipeline:
    root: Path
    sae_dir: Path
    store_path: Path
    image_dir: Path
    grid: int
    cells: dict[int, int]        # sample_id -> the patch index (row-major) holding its shape
    labels: dict[int, str]       # sample_id -> class


def draw_shape(cls: str, cell: int, grid: int, size: int = 64, seed: int = 0) -> Image.Image:
    """A pale noisy background with one coloured shape filling patch `cell` of a grid x grid image."""
    rng = np.random.default_rng(seed)
    bg = (235 + rng.integers(-8, 8, size=(size, size, 3))).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(bg)
    d = ImageDraw.Draw(img)
    p = size // grid
    r, c = divmod(cell, grid)
    box = [c * p + 1, r * p + 1, (c + 1) * p - 2, (r + 1) * p - 2]
    colour = COLOURS[cls]
    if cls == "circle":
        d.ellipse(box, fill=colour)
    elif cls == "square":
        d.rectangle(box, fill=colour)
    else:
        d.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=colour)
    return img


def tiny_pipeline(root: str | Path, n_per_class: int = 12, grid: int = 4, d_in: int = 16, d_sae: int = 32,
                  seed: int = 0, with_cls: bool = False) -> TinyPipeline:
    """Store + SAE + latent summaries (computed with saekit) for a toy image dataset.

    Latent c (c < len(CLASSES)) fires only on the patch holding a shape of class c; latent 3 fires
    weakly on every patch; the random latents 16.. rarely fire.
    """
    import torch

    from saekit.analysis.summaries import load_or_compute
    from saekit.sae import SAE, SAEConfig
    from stores import ActivationStore

    root = Path(root)
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    T = grid * grid
    store_path = root / "store.h5"
    w = ActivationStore.create(store_path, hooks={HOOK: d_in}, dtype="float32",
                               attrs={"model_id": "synthetic:shapes", "tokens": "all" if with_cls else "patches",
                                      "modality": "image", "dataset_fingerprint": "shapes-v1"})
    cells, labels = {}, {}
    sid = 0
    for k in range(n_per_class):
        for ci, cls in enumerate(CLASSES):
            cell = (sid * 7 + ci) % T
            img = draw_shape(cls, cell, grid, seed=seed + sid)
            path = image_dir / f"{sid:04d}_{cls}.png"
            img.save(path)
            acts = rng.normal(0, 0.05, size=(T, d_in)).astype(np.float32)
            acts[:, 3] += 0.8
            acts[cell, ci] += 3.0 + 0.1 * k
            pos = np.arange(T, dtype=np.int32)
            if with_cls:
                acts = np.concatenate([rng.normal(0, 0.05, size=(1, d_in)).astype(np.float32), acts])
                pos = np.arange(T + 1, dtype=np.int32)
            w.append(HOOK, acts, np.full(len(acts), sid, np.int64), pos)
            w.add_samples(np.array([sid], np.int64), [{"source": str(path.relative_to(root)), "label": cls,
                                                       "text": f"a {cls}"}])
            cells[sid], labels[sid] = cell, cls
            sid += 1
        w.commit()
    w.close()

    cfg = SAEConfig(arch="relu", d_in=d_in, d_sae=d_sae, hook=HOOK, normalization="none",
                    model_id="synthetic:shapes", tokens="patches")
    sae = SAE.create(cfg, seed=seed)
    with torch.no_grad():
        eye = torch.eye(d_in)
        sae.W_dec[:d_in] = eye
        sae.W_encT[:d_in] = eye
        sae.b_enc.fill_(-0.3)
        sae.b_dec.zero_()
    sae_dir = root / "sae"
    sae.save(sae_dir)
    store = ActivationStore.open(store_path)
    load_or_compute(SAE.load(sae_dir), sae_dir, store, progress=False, top_k=8, n_quantiles=3, per_quantile=3)
    return TinyPipeline(root=root, sae_dir=sae_dir, store_path=store_path, image_dir=image_dir, grid=grid,
                        cells=cells, labels=labels)


@dataclass(frozen=True)
class ModelPipeline:
    root: Path
    sae_dir: Path
    store_path: Path
    image_dir: Path
    model: Any
    labels: dict[int, str]


def tiny_model_pipeline(root: str | Path, model: Any = None, n_per_class: int = 6, d_sae: int = 128,
                        hook: str = "blocks.1.hook_resid_post", seed: int = 0) -> ModelPipeline:
    """A real run end to end on `random:vit`: an image folder of shapes -> capture (patch tokens) ->
    a (randomly initialised) TopK SAE -> latent summaries. Pass `model` to reuse a loaded one."""
    from saekit.analysis.summaries import load_or_compute
    from saekit.capture import CaptureConfig, capture
    from saekit.models import load_model
    from saekit.sae import SAE, SAEConfig
    from stores import ActivationStore

    root = Path(root)
    image_dir = root / "images"
    for sid in range(n_per_class * len(CLASSES)):
        cls = CLASSES[sid % len(CLASSES)]
        (image_dir / cls).mkdir(parents=True, exist_ok=True)
        draw_shape(cls, (sid * 5) % 16, 4, seed=seed + sid).save(image_dir / cls / f"{sid:04d}.png")
    model = model if model is not None else load_model("random:vit", device="cpu")
    store_path = root / "store.h5"
    capture(CaptureConfig(model=model.model_id, data=str(image_dir), hooks=(hook,), out=str(store_path),
                          tokens="patches", device="cpu", progress=False, seed=seed), model=model)
    store = ActivationStore.open(store_path)
    labels = {int(i): str(store.samples[int(i)]["label"]) for i in store.sample_ids}
    cfg = SAEConfig(arch="topk", d_in=store.d(hook), d_sae=d_sae, k=8, hook=hook, normalization="none",
                    model_id=model.model_id, tokens="patches")
    sae_dir = root / "sae"
    SAE.create(cfg, seed=seed).save(sae_dir)
    load_or_compute(SAE.load(sae_dir), sae_dir, store, progress=False, top_k=8, n_quantiles=3, per_quantile=3)
    return ModelPipeline(root=root, sae_dir=sae_dir, store_path=store_path, image_dir=image_dir, model=model,
                         labels=labels)


def tiny_text_store(root: str | Path, n_samples: int = 20, d_in: int = 16, seed: int = 0) -> Path:
    """A text store: latent 5 fires on the token 'cat' (position known from the text)."""
    from stores import ActivationStore

    rng = np.random.default_rng(seed)
    words = "the quick brown fox jumps over a lazy dog near the river bank today".split()
    path = Path(root) / "text_store.h5"
    w = ActivationStore.create(path, hooks={HOOK: d_in}, dtype="float32",
                               attrs={"model_id": "synthetic:text", "tokens": "all", "modality": "text"})
    for sid in range(n_samples):
        toks = list(rng.choice(words, size=10))
        cat_at = int(rng.integers(1, 10))
        toks[cat_at] = "cat"
        acts = rng.normal(0, 0.05, size=(10, d_in)).astype(np.float32)
        acts[cat_at, 5] += 2.0 + 0.05 * sid
        w.append(HOOK, acts, np.full(10, sid, np.int64), np.arange(10, dtype=np.int32))
        w.add_samples(np.array([sid], np.int64), [{"source": f"text:{sid}", "label": None,
                                                   "text": " ".join(toks), "tokens": [" " + t for t in toks]}])
    w.close()
    return path


# ---------------------------------------------------------------------------- output directories
def _write(directory: Path, filename: str, data: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / filename).write_text(json.dumps(data, indent=1))
    (directory / "index.html").write_text(f"<html><body><h1>{data['kind']}</h1></body></html>")
    return directory


def write_names(directory: str | Path, summaries: Any, store_path: str | Path, sae_path: str | Path,
                names: dict[int, str] | None = None, texts: dict[int, list[str]] | None = None) -> Path:
    """names.json per the contract; `names` plants latent -> name (others get "concept <i>")."""
    directory = Path(directory)
    (directory / "heatmaps").mkdir(parents=True, exist_ok=True)
    names = names or {}
    latents = []
    for i in range(int(summaries.d_sae)):
        name = names.get(i, f"concept {i}")
        top = []
        for k in range(min(3, summaries.top_k)):
            sid = int(summaries.top_sample_ids[i, k])
            if sid < 0:
                break
            entry: dict[str, Any] = {"sample_id": sid, "activation": float(summaries.top_values[i, k]),
                                     "heatmap": None}
            if texts is not None and sid in texts:
                acts = summaries.top_token_acts[i, k]
                entry["tokens"] = [[t, float(a)] for t, a in zip(texts[sid], acts)]
            top.append(entry)
        latents.append({"latent": i, "name": name, "score": 0.9 - 0.01 * (i % 50),
                        "candidates": [[name, 0.9], [name + " (alt)", 0.7], ["other", 0.2]],
                        "mono_score": round(0.2 + 0.6 * ((i * 37) % 100) / 100, 3),
                        "freq": float(summaries.freq[i]), "mean_act": float(summaries.mean_act[i]), "top": top})
    data = {"kind": "names", "format_version": 1,
            "sae": {"path": str(sae_path), "fingerprint": summaries.sae_fingerprint, "hook": summaries.hook,
                    "d_sae": int(summaries.d_sae)},
            "store": {"path": str(store_path), "fingerprint": summaries.store_fingerprint},
            "vocab": "synthetic", "method": "planted", "latents": latents}
    return _write(directory, "names.json", data)


def write_audit(directory: str | Path, summaries: Any, classes: dict[str, dict[str, list[int]]],
                examples: dict[int, list[int]], dataset_fingerprint: str = "shapes-v1",
                spec: str = "synthetic:shapes") -> Path:
    """audit.json per the contract: classes[cls][role] = latents, examples[latent] = sample ids."""
    directory = Path(directory)
    (directory / "examples").mkdir(parents=True, exist_ok=True)
    out_classes: dict[str, dict[str, list]] = {}
    biases = []
    for cls, roles in classes.items():
        out_classes[cls] = {}
        for role in ("target", "context", "bias"):
            entries = []
            for rank, i in enumerate(roles.get(role, [])):
                entry = {"latent": int(i), "name": f"concept {i}", "alignment": round(0.8 - 0.1 * rank, 3),
                         "z": round(3.0 - 0.5 * rank, 3), "class_mean": 1.0, "sufficiency": 0.7, "necessity": 0.5,
                         "example_sample_ids": list(examples.get(i, []))}
                entries.append(entry)
                if role == "bias":
                    biases.append({"class": cls, "latent": int(i), "name": f"concept {i}",
                                   "strength": round(1.5 - 0.2 * len(biases), 3)})
            out_classes[cls][role] = entries
    data = {"kind": "audit", "format_version": 1,
            "sae": {"path": "", "fingerprint": summaries.sae_fingerprint, "hook": summaries.hook,
                    "d_sae": int(summaries.d_sae)},
            "dataset": {"spec": spec, "fingerprint": dataset_fingerprint, "n_images": 36,
                        "classes": list(classes)},
            "params": {"alpha": 0.05, "sigma": 1.0, "n_per_class": 12},
            "classes": out_classes, "biases": biases, "subgroups": {},
            "accuracy_by_group": {"bias-aligned": {"n": 20, "accuracy": 0.95},
                                  "bias-conflicting": {"n": 16, "accuracy": 0.61}}}
    return _write(directory, "audit.json", data)


def write_artifacts(directory: str | Path, n_layers: int = 6, model_id: str = "synthetic:shapes",
                    seed: int = 0) -> Path:
    """artifacts.json per the contract with high-norm outliers from layer 3 on, and heatmap PNGs."""
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    (directory / "heatmaps").mkdir(parents=True, exist_ok=True)
    layers = []
    for layer in range(n_layers):
        norms = rng.normal(10 + layer, 1.0, size=2000)
        if layer >= 3:
            norms[:20] = 60 + 5 * layer
        counts, edges = np.histogram(norms, bins=30)
        layers.append({"layer": layer, "hook": f"blocks.{layer}.hook_resid_post",
                       "norm_quantiles": {str(q): float(np.quantile(norms, q)) for q in (0.5, 0.9, 0.99, 1.0)},
                       "hist": {"edges": edges.tolist(), "counts": counts.tolist()},
                       "threshold": float(3 * np.median(norms)), "outlier_frac": 0.01 if layer >= 3 else 0.0,
                       "cos_to_neighbours": 0.3, "cls_attention_share": 0.1 + 0.1 * (layer >= 3)})
    for j in range(3):
        heat = np.zeros((4, 4))
        heat[j, 3 - j] = 1.0
        img = Image.fromarray((heat * 255).astype(np.uint8)).resize((96, 96), Image.NEAREST).convert("RGB")
        img.save(directory / "heatmaps" / f"sample_{j}_layer_4.png")
    data = {"kind": "artifacts", "format_version": 1, "model": model_id,
            "dataset": {"spec": "synthetic:shapes", "fingerprint": "shapes-v1"}, "layers": layers,
            "first_outlier_layer": 3,
            "outliers": [{"sample_id": j, "layer": 4, "position": 3 - j + 4 * j, "norm": 80.0 - j} for j in range(3)],
            "register_neurons": [{"layer": 2, "neuron": 17, "score": 4.2}, {"layer": 2, "neuron": 5, "score": 2.1}],
            "test_time_registers": {"before": {"outlier_frac": 0.01, "max_norm": 80.0,
                                               "max_norm_by_layer": [10, 11, 12, 75, 80, 82]},
                                    "after": {"outlier_frac": 0.0, "max_norm": 16.0,
                                              "max_norm_by_layer": [10, 11, 12, 14, 15, 16]}}}
    return _write(directory, "artifacts.json", data)


# ---------------------------------------------------------------------------- benchmark-sized summaries
def synthetic_summaries(d_sae: int, n_samples: int, tokens: int = 256, top_k: int = 16, n_quantiles: int = 5,
                        per_quantile: int = 4, n_bins: int = 40, seed: int = 0, hook: str = HOOK,
                        store_fingerprint: str = "synthetic") -> Any:
    """LatentSummaries with the documented shapes, built directly (no SAE pass): latent i's top
    samples carry a Gaussian blob centred on patch (i mod g, i div g mod g) of a g x g grid."""
    from saekit.analysis.summaries import LatentSummaries

    rng = np.random.default_rng(seed)
    L, K, T = d_sae, top_k, tokens
    g = int(round(T ** 0.5))
    freq = (rng.lognormal(-6, 1.5, L)).clip(0, 0.5).astype(np.float32)
    freq[rng.random(L) < 0.05] = 0  # a few dead latents
    max_act = (rng.gamma(3, 2, L) * (freq > 0)).astype(np.float32)
    top_values = np.sort(rng.random((L, K)).astype(np.float32), axis=1)[:, ::-1] * max_act[:, None]
    top_ids = rng.integers(0, n_samples, size=(L, K), dtype=np.int64)
    top_ids[freq == 0] = -1
    yy, xx = np.divmod(np.arange(T), g)
    cy, cx = (np.arange(L) // g) % g, np.arange(L) % g
    blob = np.exp(-((yy[None] - cy[:, None]) ** 2 + (xx[None] - cx[:, None]) ** 2) / 4.0).astype(np.float32)  # [L,T]
    token_acts = (blob[:, None, :] * top_values[:, :, None]).astype(np.float16)
    positions = np.broadcast_to(np.arange(T, dtype=np.int32), (L, K, T))
    hist_counts = rng.poisson(np.linspace(50, 1, n_bins)[None, :] * 10, size=(L, n_bins)).astype(np.int64)
    hist_counts[freq == 0] = 0
    q_ids = rng.integers(0, n_samples, size=(L, n_quantiles, per_quantile), dtype=np.int64)
    q_vals = (np.sort(rng.random((L, n_quantiles * per_quantile)), axis=1).reshape(L, n_quantiles, per_quantile)
              * max_act[:, None, None]).astype(np.float32)
    neighbours = (np.arange(L)[:, None] + rng.integers(1, L, size=(L, 10))) % L
    return LatentSummaries(
        hook=hook, d_sae=L, n_samples=n_samples, n_rows=n_samples * T, tokens_per_sample=T,
        sae_fingerprint="synthetic-sae", store_fingerprint=store_fingerprint,
        freq=freq, sample_freq=np.minimum(1, freq * 20).astype(np.float32),
        mean_act=(max_act * 0.3).astype(np.float32), max_act=max_act,
        hist_edges=np.linspace(0, 1, n_bins + 1, dtype=np.float32), hist_counts=hist_counts,
        top_sample_ids=top_ids, top_values=top_values.astype(np.float32), top_token_acts=token_acts,
        top_positions=positions, quantile_sample_ids=q_ids, quantile_values=q_vals,
        neighbours=neighbours.astype(np.int64), neighbour_cos=np.sort(rng.random((L, 10)), axis=1)[:, ::-1]
        .astype(np.float32), params={"synthetic": True})
