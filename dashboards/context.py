"""The app's read-only view of its inputs, indexed once at start-up so page callbacks stay O(page)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dashboards.catalog import FeatureCatalog
from dashboards.inputs import DashboardInputs, latent_names
from dashboards.samples import SampleSource

ROLES: tuple[str, ...] = ("target", "context", "bias")


@dataclass
class ClassRole:
    """One (class, role) a latent plays in the audit."""

    cls: str
    role: str
    entry: dict[str, Any]


@dataclass
class Browser:
    inputs: DashboardInputs
    catalog: FeatureCatalog = field(init=False)
    samples: SampleSource = field(init=False)
    names: np.ndarray = field(init=False)
    name_entries: dict[int, dict] = field(init=False)
    class_roles: dict[int, list[ClassRole]] = field(init=False)

    def __post_init__(self) -> None:
        s = self.inputs.summaries
        self.names = latent_names(self.inputs)
        self.name_entries = {}
        mono = np.full(self.inputs.d_sae, np.nan)
        explanation = np.full(self.inputs.d_sae, "", dtype=object)
        detection = np.full(self.inputs.d_sae, np.nan)
        for e in (self.inputs.names or {}).get("latents", []) or []:
            i = e.get("latent")
            if isinstance(i, int) and 0 <= i < self.inputs.d_sae:
                self.name_entries[i] = e
                if isinstance(e.get("mono_score"), (int, float)):
                    mono[i] = float(e["mono_score"])
                expl = e.get("explanation") or {}
                explanation[i] = str(expl.get("text") or "")
                ba = (expl.get("detection") or {}).get("balanced_accuracy")
                if isinstance(ba, (int, float)):
                    detection[i] = float(ba)
        self.catalog = FeatureCatalog(names=self.names, freq=np.asarray(s.freq, dtype=np.float64),
                                      mean_act=np.asarray(s.mean_act, dtype=np.float64), mono=mono,
                                      explanation=explanation.astype(str), detection=detection)
        self.samples = SampleSource(self.inputs)
        self.class_roles = {}
        for cls, roles in (self.audit.get("classes") or {}).items():
            for role in ROLES:
                for entry in (roles or {}).get(role, []) or []:
                    i = entry.get("latent")
                    if isinstance(i, int):
                        self.class_roles.setdefault(i, []).append(ClassRole(str(cls), role, entry))

    @property
    def summaries(self) -> Any:
        return self.inputs.summaries

    @property
    def audit(self) -> dict:
        return self.inputs.audit or {}

    @property
    def artifacts(self) -> dict:
        return self.inputs.artifacts or {}

    def name(self, latent: int) -> str:
        return str(self.names[latent]) if 0 <= latent < len(self.names) else ""

    def label(self, latent: int) -> str:
        """'#12 · striped fur' or '#12' when unnamed."""
        n = self.name(latent)
        return f"#{latent} · {n}" if n else f"#{latent}"
