"""What `saekit artifacts` prints after a run, from its document."""
from __future__ import annotations

from pathlib import Path

from saekit.analysis.artifacts.config import ArtifactsConfig
from saekit.results import ArtifactsDocument


def summarize(doc: ArtifactsDocument, cfg: ArtifactsConfig) -> None:
    first = doc.first_outlier_layer
    print(f"{doc.model}: {doc.dataset.n_images} images, {len(doc.layers)} layers; first layer with outliers: "
          f"{'none' if first is None else first}")
    for row in doc.layers:
        print(f"  layer {row.layer:>2}: median norm {row.norm_quantiles['0.5']:.3g}, max "
              f"{row.norm_quantiles['1.0']:.3g}, outliers {row.n_outliers} ({row.outlier_frac:.2%})")
    ttr = doc.test_time_registers
    if ttr is not None and ttr.before and ttr.after:
        print(f"test-time register at layer {ttr.layer}: outlier-position norm "
              f"{ttr.before['outlier_positions_norm_mean']:.3g} -> {ttr.after['outlier_positions_norm_mean']:.3g}, "
              f"register norm {ttr.after['register_norm_mean']:.3g}")
    print(f"wrote {Path(cfg.out) / 'artifacts.json'} and {Path(cfg.out) / 'index.html'}")
