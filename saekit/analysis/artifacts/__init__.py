"""`saekit artifacts`: high-norm artifact tokens, register neurons and test-time registers in vision
transformers.

One module per step: ``config`` (the flags), ``outliers`` (token norms, outliers per layer: Darcet
et al. 2024), ``registers`` (register neurons and test-time registers: Jiang et al. 2025), ``run``
(``artifacts(ArtifactsConfig) -> ArtifactsDocument``), ``report`` (heatmaps and index.html from the
document) and ``summary`` (what the CLI prints).
"""
from __future__ import annotations

from saekit.common.lazy import lazy_exports

__all__ = ["ArtifactConfig", "ArtifactsConfig", "analyze_artifacts", "artifacts", "use_test_time_registers"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "ArtifactConfig": "saekit.analysis.artifacts.config", "ArtifactsConfig": "saekit.analysis.artifacts.config",
    "analyze_artifacts": "saekit.analysis.artifacts.outliers", "artifacts": "saekit.analysis.artifacts.run",
    "use_test_time_registers": "saekit.analysis.artifacts.registers"})
