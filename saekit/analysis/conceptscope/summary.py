"""What `saekit audit` prints after the run, read from its document."""
from __future__ import annotations

from pathlib import Path

from saekit.analysis.conceptscope.config import AuditConfig
from saekit.results.audit import AuditDocument


def summarize(doc: AuditDocument, cfg: AuditConfig) -> None:
    print(f"{doc.dataset.n_images} images, {len(doc.classes)} classes, {doc.latents.n_valid} valid latents")
    for name, c in doc.classes.items():
        print(f"  {name}: {len(c.target)} target, {len(c.context)} context, {len(c.bias)} bias")
    if doc.biases:
        print("strongest biases:")
        for b in doc.biases[:10]:
            print(f"  {b.cls}: {b.name} (latent {b.latent}), lift {b.lift:.3g}, AUC {b.auc:.2f}")
    if doc.accuracy_by_group:
        acc = doc.accuracy_by_group
        print("accuracy by group: " + ", ".join(
            f"{g} {acc[g].accuracy:.3f} (n={acc[g].n})" if acc[g].accuracy is not None else f"{g} - (n=0)"
            for g in ("prototype", "confounded", "shortcut", "ambiguous", "all") if g in acc))
    copies = doc.masked_copies or {}
    total = sum((doc.timings_s or {}).values())
    n_img = doc.dataset.n_images + (doc.test.n_images if doc.test else 0)
    print(f"{total:.1f} s before the report ({total / max(1, n_img):.2f} s per image; "
          f"{copies.get('forwarded', 0)} of {copies.get('defined', 0)} masked copies needed a forward)")
    print(f"wrote {Path(cfg.out) / 'audit.json'} and {Path(cfg.out) / 'index.html'}")
