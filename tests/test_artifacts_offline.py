"""The real DINOv2-small (offline:dinov2-small, no registers, clean patch norms) is reported clean."""
from __future__ import annotations

import pytest

from saekit.analysis.artifacts.config import ArtifactConfig
from saekit.analysis.artifacts.outliers import analyze_artifacts
from saekit.capture.artifact_tokens import artifact_token_mask
from saekit.results.artifacts import TestTimeRegisters


@pytest.mark.slow
def test_dinov2_small_is_reported_clean():
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from saekit.data import Sample
    from saekit.models import load_model

    m = load_model("offline:dinov2-small", device="cpu")
    photos = [Image.fromarray(a) for a in load_sample_images().images]
    crops = [p.crop((x, y, x + 200, y + 200)) for p in photos for x, y in ((0, 0), (200, 150))]
    samples = [Sample(id=i, source=f"photo{i}", image=im) for i, im in enumerate(photos + crops)]
    report, _ = analyze_artifacts(m, samples, ArtifactConfig(batch_size=3))
    assert report.first_outlier_layer is None
    assert sum(r.n_outliers for r in report.layers) == 0
    assert max(r.max_over_median for r in report.layers) < 2.5
    assert report.test_time_registers == TestTimeRegisters(skipped="no outlier tokens found")
    assert not artifact_token_mask(m, m.prepare(samples[:2])).any()
