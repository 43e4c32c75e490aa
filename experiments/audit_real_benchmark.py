"""ConceptScope on real images and a trained SAE: does `saekit audit` with default flags find a planted
context cue?

Data: six classes of the bundled clipart drawings. A coloured frame (the cue) is drawn on most images
of one class (`--cue-rate`, default 85%) and a few of the others (`--leak`, 6%); a blue disc in the
bottom-left corner (the control) is drawn on exactly half of the images of every class.
A balanced evaluation set (half of each class framed) is the paper's bias-discovery test split.

Pipeline, each phase timed: write the data (hfds, with the drawings' captions) -> `capture` through
the offline DINOv2 (audit and evaluation images) -> `train` a TopK SAE (nothing planted in it) -> `align` (a text space for the
encoder, fitted on the captions) -> `audit` with the default AuditConfig (the evaluation set as its
test images).

Prints one JSON line:
  cue_latents / control_latents  latents whose image-level activation separates framed from unframed
                                 (disc from no disc) images with AUC >= 0.9 on the evaluation set
  cue_reported_as_bias           a cue latent is a bias of the framed class
  precision_at_10                the paper's protocol for the framed class c: for each other class s,
                                 rank s's evaluation images by each bias latent of c, fraction of the
                                 top 10 that carry the frame, best latent, mean over s
  precision_at_10_ceiling        the best precision_at_10 possible: min(10, framed images per class) / 10
                                 (with 16 evaluation images per class, 8 framed, it was 0.8)
  control_reported_as_bias       classes where a control latent was reported as a bias (bar: 0)
  seconds                        per phase; audit_s_per_image = audit seconds / audited images

Usage: python experiments/audit_real_benchmark.py [--work DIR] [--reuse] [--model offline:dinov2-small@84]
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

CLASSES = ("animal", "flag", "food", "person", "vehicle", "computer")
CUED = "animal"
HOOK = "blocks.10.hook_resid_post"


def frame(img, colour=(235, 70, 20), width_frac: float = 0.09):
    from PIL import ImageDraw

    im = img.copy()
    w, h = im.size
    t = max(2, int(round(width_frac * w)))
    d = ImageDraw.Draw(im)
    for i in range(t):
        d.rectangle([i, i, w - 1 - i, h - 1 - i], outline=colour)
    return im


def disc(img, colour=(30, 80, 230), radius_frac: float = 0.12):
    from PIL import ImageDraw

    im = img.copy()
    w, h = im.size
    r = int(round(radius_frac * w))
    cx, cy = int(0.2 * w), int(0.8 * h)
    ImageDraw.Draw(im).ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return im


def build_data(out: Path, classes: tuple[str, ...], n_audit: int, n_eval: int, cue_rate: float, leak: float,
               seed: int) -> dict:
    """Two hfds datasets (audit, eval) with image / label / text / cue / control columns."""
    import datasets

    from saekit.data.bundled import clipart_metadata, load_bundled

    rng = np.random.default_rng(seed)
    meta = clipart_metadata()
    ds = load_bundled("clipart")
    rows = {"audit": [], "eval": []}
    for c in classes:
        idx = rng.permutation([i for i, m in enumerate(meta) if m["label"] == c])[:n_audit + n_eval]
        for split, part in (("audit", idx[:n_audit]), ("eval", idx[n_audit:])):
            # exact counts per class, shuffled: the control is uncorrelated with the class by construction
            rate = (cue_rate if c == CUED else leak) if split == "audit" else 0.5
            cue = rng.permutation(np.arange(len(part)) < int(round(rate * len(part))))
            ctrl = rng.permutation(np.arange(len(part)) < len(part) // 2)
            for i, q, k in zip(part, cue, ctrl):
                s = ds[int(i)]
                im = s.image.convert("RGB")
                im = frame(im) if q else im
                im = disc(im) if k else im
                rows[split].append({"image": im, "label": c, "text": meta[int(i)]["text"], "cue": bool(q),
                                    "control": bool(k), "source": f"{meta[int(i)]['source']}"})
    for split, r in rows.items():
        features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string"),
                                      "text": datasets.Value("string"), "cue": datasets.Value("bool"),
                                      "control": datasets.Value("bool"), "source": datasets.Value("string")})
        datasets.Dataset.from_list(r, features=features).save_to_disk(str(out / split))
    features = datasets.load_from_disk(str(out / "audit")).features
    datasets.concatenate_datasets([datasets.load_from_disk(str(out / s)) for s in rows]).cast(features) \
        .save_to_disk(str(out / "all"))  # what the SAE and the text map are trained on
    return {s: {"n": len(r), "cue": int(sum(x["cue"] for x in r)), "control": int(sum(x["control"] for x in r))}
            for s, r in rows.items()}


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive outranks a negative (ties count half)."""
    from scipy.stats import rankdata

    pos = np.asarray(positive, bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return 0.5
    r = rankdata(score)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def flags(path: Path, column: str) -> np.ndarray:
    import datasets

    return np.array(datasets.load_from_disk(str(path))[column], dtype=bool)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/audit_real_benchmark"))
    ap.add_argument("--reuse", action="store_true", help="reuse data, store, SAE and text space from --work")
    ap.add_argument("--model", default="offline:dinov2-small@84")
    ap.add_argument("--classes", type=int, default=len(CLASSES), help=f"the first N of {', '.join(CLASSES)}")
    ap.add_argument("--n-audit", type=int, default=32, help="audited images per class")
    ap.add_argument("--n-eval", type=int, default=24,
                    help="evaluation images per class (half framed; at least 20 so that precision@10 can reach 1)")
    ap.add_argument("--cue-rate", type=float, default=0.85)
    ap.add_argument("--leak", type=float, default=0.06)
    ap.add_argument("--train-tokens", type=int, default=150_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from saekit.analysis.alignment import AlignConfig, fit_text_space
    from saekit.analysis.conceptscope.config import AuditConfig
    from saekit.analysis.conceptscope.run import audit
    from saekit.common.device import resolve_device
    from saekit.inputs import Inputs
    from saekit.capture import CaptureConfig, capture
    from saekit.train import TrainConfig, train

    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    secs: dict[str, float] = {}
    paths = {"data": w / "data", "store": w / "store.h5", "sae": w / "sae", "align": w / "align", "audit": w / "audit"}
    done = {k: args.reuse and p.exists() for k, p in paths.items()}  # --reuse: skip phases already done

    t = time.perf_counter()
    if not done["data"]:
        counts = build_data(paths["data"], CLASSES[:max(2, args.classes)], args.n_audit, args.n_eval, args.cue_rate,
                            args.leak, args.seed)
    else:
        counts = {s: {"n": len(flags(paths["data"] / s, "cue")), "cue": int(flags(paths["data"] / s, "cue").sum())}
                  for s in ("audit", "eval")}
    secs["data"] = time.perf_counter() - t
    if not done["store"]:
        t = time.perf_counter()
        capture(CaptureConfig(model=args.model, data=f"hfds:{paths['data'] / 'all'}", hooks=(HOOK,),
                              out=str(paths["store"]), tokens="patches", overwrite=True, seed=args.seed, progress=False))
        secs["capture"] = time.perf_counter() - t
    if not done["sae"]:
        t = time.perf_counter()
        train(TrainConfig(hook=HOOK, arch="topk", tokens=args.train_tokens, out=str(paths["sae"]),
                          store=str(paths["store"]), expansion=8.0, k=32, batch_size=1024, seed=args.seed,
                          progress=False))
        secs["train"] = time.perf_counter() - t
    if not done["align"]:
        t = time.perf_counter()
        fit_text_space(str(paths["store"]), AlignConfig(hook=HOOK, seed=args.seed), out=str(paths["align"]), progress=False)
        secs["align"] = time.perf_counter() - t

    t = time.perf_counter()
    cfg = AuditConfig(model=args.model, data=f"hfds:{paths['data'] / 'audit'}", sae=str(paths["sae"]),
                      out=str(paths["audit"]), text_space=str(paths["align"]), test_data=f"hfds:{paths['data'] / 'eval'}")
    with Inputs(sae=cfg.sae, data=cfg.data, model=cfg.model, device=str(resolve_device(cfg.device))) as inputs:
        doc = audit(cfg, inputs)
        secs["audit"] = time.perf_counter() - t
        acts_e, labels_e = eval_activations(cfg, inputs, doc)  # the audit's model, SAE and eval set, reused
    print(json.dumps(evaluate(doc, acts_e, labels_e, paths["data"], counts, secs, args)))


def eval_activations(cfg, inputs, doc) -> tuple[np.ndarray, np.ndarray]:
    """Image-level activations of the evaluation images and their class indices (the audit's test images)."""
    from saekit.analysis.conceptscope.alignment import image_activations
    from saekit.analysis.conceptscope.backend import ModelBackend
    from saekit.analysis.conceptscope.samples import SampleView
    from saekit.analysis.alignment.text_space import load_text_space

    backend = ModelBackend(inputs.model, inputs.sae, load_text_space(cfg.text_space))
    test = SampleView(inputs.load_dataset(cfg.test_data))
    labels = np.array([list(doc.dataset.classes).index(str(test[i].label)) for i in range(len(test))])
    return image_activations(backend, test, cfg.batch_size), labels


def evaluate(doc, acts_e: np.ndarray, labels_e: np.ndarray, data: Path, counts: dict, secs: dict, args) -> dict:
    cue_e, ctrl_e = flags(data / "eval", "cue"), flags(data / "eval", "control")
    class_names = list(doc.dataset.classes)
    aucs_cue = np.array([auc(acts_e[:, j], cue_e) for j in range(acts_e.shape[1])])
    aucs_ctrl = np.array([auc(acts_e[:, j], ctrl_e) for j in range(acts_e.shape[1])])
    cue_lat = set(np.flatnonzero(aucs_cue >= 0.9).tolist())
    ctrl_lat = set(np.flatnonzero(aucs_ctrl >= 0.9).tolist())
    c = class_names.index(CUED)
    bias_c = [x.latent for x in doc.classes[CUED].bias]
    precisions = []
    for s in range(len(class_names)):
        if s == c:
            continue
        rows = np.flatnonzero(labels_e == s)
        best = 0.0
        for j in bias_c:
            top = rows[np.argsort(-acts_e[rows, j], kind="stable")[:10]]
            best = max(best, float(cue_e[top].mean()))
        precisions.append(best)
    control_classes = [name for name, k in doc.classes.items() if any(x.latent in ctrl_lat for x in k.bias)]
    n_audited = doc.dataset.n_images
    return {
        "benchmark": "audit_real", "model": args.model, "classes": class_names, "cued_class": CUED,
        "data": counts, "n_valid": doc.latents.n_valid,
        "cue_latents": sorted(cue_lat), "control_latents": sorted(ctrl_lat),
        "bias_of_cued_class": bias_c, "cue_reported_as_bias": bool(cue_lat & set(bias_c)),
        "cue_latent_max_auc": float(aucs_cue.max()), "control_latent_max_auc": float(aucs_ctrl.max()),
        "precision_at_10": float(np.mean(precisions)), "control_reported_as_bias": control_classes,
        "precision_at_10_ceiling": float(np.mean([min(10, int(cue_e[labels_e == s].sum())) / 10
                                                  for s in range(len(class_names)) if s != c])),
        "biases": [{"class": b.cls, "latent": b.latent, "lift": round(b.lift, 3),
                    "cue_auc": round(float(aucs_cue[b.latent]), 3),
                    "control_auc": round(float(aucs_ctrl[b.latent]), 3)} for b in doc.biases][:12],
        "seconds": {k: round(v, 1) for k, v in secs.items()}, "total_s": round(sum(secs.values()), 1),
        "reused_phases": [k for k in ("capture", "train", "align") if k not in secs],
        "audit_phases_s": {k: round(v, 1) for k, v in (doc.timings_s or {}).items()},
        "audit_s_per_image": round(secs["audit"] / n_audited, 3), "n_audited": n_audited,
    }


if __name__ == "__main__":
    main()
