"""Inputs with known answers for the dashboard's tests and benchmark (test scaffolding, not shipped).

`real_outputs` runs the real `capture`, `name`, `audit` and `artifacts` on random:clip and a folder
of shape images: what the dashboard tests open. `tiny_pipeline` writes a store with planted
activations (a coloured shape in one patch; store attributes as capture writes them, through
StoreMetadata), a hand-built SAE whose first latents read the shape's class at that patch, and
real latent summaries. `synthetic_summaries` / `scale_names` / `scale_audit` build documents of any
size through the result-document classes (for the 16k-latent x 100k-sample page timings).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from saekit.results import StoreMetadata

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
    from saekit.sae import load_sae, SAE, SAEConfig
    from stores import ActivationStore

    root = Path(root)
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    T = grid * grid
    store_path = root / "store.h5"
    meta = StoreMetadata(model_id="synthetic:shapes", modality="image", tokens="all" if with_cls else "patches",
                         data=str(image_dir), dataset_modality="image", patch_grid=(grid, grid),
                         n_prefix_tokens=1 if with_cls else 0, labels=CLASSES)
    w = ActivationStore.create(store_path, hooks={HOOK: d_in}, dtype="float32", attrs=meta.to_attrs())
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
            w.add_samples(np.array([sid], np.int64), [{"source": path.name, "label": cls,
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
    load_or_compute(load_sae(sae_dir), sae_dir, store, progress=False, top_k=8, n_quantiles=3, per_quantile=3)
    return TinyPipeline(root=root, sae_dir=sae_dir, store_path=store_path, image_dir=image_dir, grid=grid,
                        cells=cells, labels=labels)


def tiny_text_store(root: str | Path, n_samples: int = 20, d_in: int = 16, seed: int = 0) -> Path:
    """A text store: latent 5 fires on the token 'cat' (position known from the text)."""
    from stores import ActivationStore

    rng = np.random.default_rng(seed)
    words = "the quick brown fox jumps over a lazy dog near the river bank today".split()
    path = Path(root) / "text_store.h5"
    meta = StoreMetadata(model_id="synthetic:text", modality="text", tokens="all", dataset_modality="text")
    w = ActivationStore.create(path, hooks={HOOK: d_in}, dtype="float32", attrs=meta.to_attrs())
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


# ---------------------------------------------------------------------------- real command outputs
@dataclass(frozen=True)
class RealOutputs:
    """A random:clip capture of the shapes images, a TopK SAE, and the outputs of the real `name`,
    `audit` and `artifacts` commands on them (what the dashboard tests open)."""

    root: Path
    sae_dir: Path
    store_path: Path
    image_dir: Path
    names_dir: Path
    audit_dir: Path
    artifacts_dir: Path


CLIP_HOOK = "blocks.1.hook_resid_post"


def real_outputs(root: str | Path, n_per_class: int = 8, d_sae: int = 64, seed: int = 0) -> RealOutputs:
    """Capture (random:clip, CLS + patch tokens) -> SAE -> `saekit name`, `saekit audit --names`,
    `saekit artifacts`, each run through the CLI exactly as a user would."""
    from saekit.capture import CaptureConfig, capture
    from saekit.cli.main import main
    from saekit.models import load_model
    from saekit.sae import load_sae, SAE, SAEConfig
    from stores import ActivationStore

    root = Path(root)
    image_dir = root / "images"
    for sid in range(n_per_class * len(CLASSES)):
        cls = CLASSES[sid % len(CLASSES)]
        (image_dir / cls).mkdir(parents=True, exist_ok=True)
        draw_shape(cls, (sid * 5) % 16, 4, seed=seed + sid).save(image_dir / cls / f"{sid:04d}.png")
    model = load_model("random:clip", device="cpu")
    store_path = root / "store.h5"
    capture(CaptureConfig(model="random:clip", data=str(image_dir), hooks=(CLIP_HOOK,), out=str(store_path),
                          tokens="all", device="cpu", progress=False, seed=seed), model=model)
    d_in = ActivationStore.open(store_path).d(CLIP_HOOK)
    sae_dir = root / "sae"
    SAE.create(SAEConfig(arch="topk", d_in=d_in, d_sae=d_sae, k=8, hook=CLIP_HOOK, normalization="none",
                         model_id="random:clip", tokens="all"), seed=seed).save(sae_dir)
    out = RealOutputs(root=root, sae_dir=sae_dir, store_path=store_path, image_dir=image_dir,
                      names_dir=root / "names", audit_dir=root / "audit", artifacts_dir=root / "artifacts")
    runs = [
        ["name", "--sae", str(sae_dir), "--store", str(store_path), "--out", str(out.names_dir), "--device", "cpu"],
        ["audit", "--model", "random:clip", "--data", str(image_dir), "--sae", str(sae_dir), "--out",
         str(out.audit_dir), "--names", str(out.names_dir), "--per-class", "4", "--top-k", "6",
         "--active-threshold", "0", "--min-per-class", "4", "--classifier", "zero-shot", "--examples", "2",
         "--device", "cpu"],
        ["artifacts", "--model", "random:clip", "--data", str(image_dir), "--out", str(out.artifacts_dir),
         "--limit", "12", "--threshold", "9.8", "--top-k", "4", "--device", "cpu"],
    ]
    for argv in runs:
        if main(argv) != 0:
            raise RuntimeError(f"saekit {' '.join(argv)} failed")
    return out


# ---------------------------------------------------------------------------- benchmark-sized documents
def scale_names(directory: str | Path, summaries: Any, names: dict[int, str] | None = None) -> Path:
    """A NamesDocument over every latent of (synthetic) summaries, for page timings at scale."""
    from saekit.results import NamesDocument, SaeRef, StoreRef
    from saekit.results.names import LatentName, TopSample

    names = names or {}
    latents = []
    for i in range(int(summaries.d_sae)):
        name = names.get(i, f"concept {i}")
        top = tuple(TopSample(sample_id=int(summaries.top_sample_ids[i, k]), activation=float(summaries.top_values[i, k]))
                    for k in range(min(3, summaries.top_k)) if summaries.top_sample_ids[i, k] >= 0)
        latents.append(LatentName(latent=i, name=name, score=0.9 - 0.01 * (i % 50),
                                  candidates=((name, 0.9), (name + " (alt)", 0.7), ("other", 0.2)),
                                  mono_score=round(0.2 + 0.6 * ((i * 37) % 100) / 100, 3),
                                  freq=float(summaries.freq[i]), sample_freq=float(summaries.sample_freq[i]),
                                  mean_act=float(summaries.mean_act[i]), max_act=float(summaries.max_act[i]), top=top))
    doc = NamesDocument(sae=SaeRef(fingerprint=summaries.sae_fingerprint, hook=summaries.hook, d_sae=summaries.d_sae),
                        store=StoreRef(fingerprint=summaries.store_fingerprint, modality="image",
                                       n_samples=summaries.n_samples),
                        method="top-images", n_live=int(summaries.live.sum()), n_named=len(latents), notes=(),
                        latents=tuple(latents))
    return doc.save(directory)


def scale_audit(directory: str | Path, summaries: Any, classes: dict[str, dict[str, list[int]]],
                examples: dict[int, list[int]], spec: str = "synthetic:shapes") -> Path:
    """An AuditDocument: classes[cls][role] = latents, examples[latent] = sample ids."""
    from saekit.results import AuditDocument, SaeRef
    from saekit.results.audit import (AuditBias, AuditClass, AuditConcept, AuditDataset, AuditLatents,
                                      GroupAccuracy, ModelRef)

    out, biases = {}, []
    for cls, roles in classes.items():
        made = {}
        for role in ("target", "context", "bias"):
            made[role] = tuple(AuditConcept(latent=int(i), name=f"concept {i}", alignment=0.8 - 0.1 * r, z=3.0 - 0.5 * r,
                                            class_mean=1.0, sufficiency=0.7, necessity=0.5, lift=2.0,
                                            bias_strength=1.5 if role == "bias" else 0.0, bias=role == "bias",
                                            example_sample_ids=tuple(examples.get(i, [])))
                               for r, i in enumerate(roles.get(role, [])))
            biases += [AuditBias(cls=cls, latent=c.latent, name=c.name, strength=1.5 - 0.2 * len(biases), lift=2.0,
                                 class_mean=1.0, alignment=c.alignment, z=c.z) for c in made["bias"]] if role == "bias" else []
        out[cls] = AuditClass(n_images=12, n_sampled=12, text_similarity=0.5, bias_threshold=1.0,
                              target=made["target"], context=made["context"] + made["bias"], bias=made["bias"])
    doc = AuditDocument(sae=SaeRef(fingerprint=summaries.sae_fingerprint, hook=summaries.hook, d_sae=summaries.d_sae),
                        model=ModelRef(id="synthetic:shapes"),
                        dataset=AuditDataset(spec=spec, n_images=12 * len(classes), classes=tuple(classes)),
                        test=None, text_space=None, names="latent index", params={"alpha": 1.0, "sigma": 1.0},
                        latents=AuditLatents(n_valid=int(summaries.d_sae), noisy=()), classes=out, biases=tuple(biases),
                        accuracy_by_group={"prototype": GroupAccuracy(n=20, accuracy=0.95),
                                           "shortcut": GroupAccuracy(n=16, accuracy=0.61)})
    return doc.save(directory)


# ---------------------------------------------------------------------------- benchmark-sized summaries
def synthetic_summaries(d_sae: int, n_samples: int, tokens: int = 256, top_k: int = 16, n_quantiles: int = 5,
                        per_quantile: int = 4, n_bins: int = 40, seed: int = 0, hook: str = HOOK,
                        store_fingerprint: str = "synthetic") -> Any:
    """LatentSummaries with the documented shapes, built directly (no SAE pass): latent i's top
    samples carry a Gaussian blob centred on patch (i mod g, i div g mod g) of a g x g grid."""
    from saekit.results.summaries import LatentSummaries

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
