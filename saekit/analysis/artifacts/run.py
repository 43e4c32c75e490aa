"""The `artifacts` command: ``artifacts(ArtifactsConfig(...)) -> ArtifactsDocument``.

Loads the model and the first ``limit`` images, runs the analysis (saekit.analysis.artifacts.outliers
and .registers), and writes the heatmaps, index.html and, last, artifacts.json (its presence marks a
complete directory).
"""
from __future__ import annotations

from pathlib import Path

from saekit.analysis.artifacts.config import ArtifactsConfig
from saekit.common.errors import SaekitError
from saekit.results import ArtifactsDocument, DatasetRef


def artifacts(cfg: ArtifactsConfig) -> ArtifactsDocument:
    from saekit.analysis.artifacts.outliers import analyze_artifacts
    from saekit.analysis.artifacts.report import render_html, write_heatmaps
    from saekit.common.atomic import write_text_atomic
    from saekit.inputs import Inputs
    from saekit.results import dataset_fingerprint

    with Inputs(data=cfg.data, model=cfg.model, device=cfg.device) as inputs:
        ds = inputs.dataset
        if ds.modality == "text":
            raise SaekitError(f"--data {cfg.data!r} holds texts; artifact detection needs images")
        model = inputs.model
        n = min(len(ds), cfg.limit) if cfg.limit else len(ds)
        samples = [ds[i] for i in range(n)]
        report, stats = analyze_artifacts(model, samples, cfg.method, registers=cfg.registers)

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ArtifactsDocument.path_in(out).unlink(missing_ok=True)  # the JSON marks the directory complete
    heatmaps = write_heatmaps(report, stats, out, n_samples=cfg.method.heatmap_samples)
    dataset = DatasetRef(spec=cfg.data, name=getattr(ds, "name", cfg.data), n_images=n,
                         fingerprint=dataset_fingerprint([s.id for s in samples], [s.label for s in samples]))
    doc = report.document(dataset, heatmaps)
    write_text_atomic(out / "index.html", render_html(doc))
    doc.save(out)
    return doc
