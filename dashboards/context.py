"""The app's read-only view of its inputs, indexed once at start-up so page callbacks stay O(page)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dashboards.catalog import FeatureCatalog
from dashboards.inputs import DashboardInputs, latent_names
from dashboards.samples import SampleSource
from saekit.results import LatentSummaries
from saekit.results.audit import AuditConcept
from saekit.results.names import LatentName

ROLES: tuple[str, ...] = ("target", "context", "bias")


@dataclass
class ClassRole:
    """One (class, role) a latent plays in the audit."""

    cls: str
    role: str
    entry: AuditConcept


@dataclass
class Browser:
    inputs: DashboardInputs
    catalog: FeatureCatalog = field(init=False)
    samples: SampleSource = field(init=False)
    names: np.ndarray = field(init=False)
    name_entries: dict[int, LatentName] = field(init=False)
    class_roles: dict[int, list[ClassRole]] = field(init=False)
    mono_centred_shown: bool = field(init=False)  # no Pach et al. score known (an old centred names.json)

    def __post_init__(self) -> None:
        s = self.inputs.summaries
        self.names = latent_names(self.inputs)
        self.name_entries = {}
        entries = self.inputs.names.latents if self.inputs.names is not None else ()
        self.mono_centred_shown = (all(e.mono_score is None for e in entries)
                                   and any(e.mono_score_centred is not None for e in entries))
        mono = np.full(self.inputs.d_sae, np.nan)
        explanation = np.full(self.inputs.d_sae, "", dtype=object)
        detection = np.full(self.inputs.d_sae, np.nan)
        for e in entries:
            if 0 <= e.latent < self.inputs.d_sae:
                self.name_entries[e.latent] = e
                shown = self.mono_of(e.latent)
                if shown is not None:
                    mono[e.latent] = shown
                if e.explanation is not None:
                    explanation[e.latent] = e.explanation.text
                    det = e.explanation.detection
                    if det is not None and det.balanced_accuracy is not None:
                        detection[e.latent] = det.balanced_accuracy
        self.catalog = FeatureCatalog(names=self.names, freq=np.asarray(s.freq, dtype=np.float64),
                                      mean_act=np.asarray(s.mean_act, dtype=np.float64), mono=mono,
                                      explanation=explanation.astype(str), detection=detection)
        self.samples = SampleSource(self.inputs)
        self.class_roles = {}
        audit = self.inputs.audit
        for cls, roles in audit.classes.items() if audit is not None else ():
            for role, entries in (("target", roles.target), ("context", roles.context), ("bias", roles.bias)):
                for entry in entries:
                    self.class_roles.setdefault(entry.latent, []).append(ClassRole(cls, role, entry))

    @property
    def mono_label(self) -> str:
        """Which Monosemanticity Score the app shows: Pach et al.'s, or saekit's centred variant when only it is known."""
        return "MS centred (saekit)" if self.mono_centred_shown else "MS (Pach et al.)"

    @property
    def mono_note(self) -> str:
        """What the shown score is read against (empty when the names document does not say)."""
        names = self.inputs.names
        if self.mono_centred_shown or names is None or names.mono_mean_pair_cosine is None:
            return ""
        return (f"MS (Pach et al.): raw cosines; a latent firing alike on every sample scores "
                f"{names.mono_mean_pair_cosine:.3f} (the samples' mean pair cosine).")

    def mono_of(self, latent: int) -> float | None:
        """The shown Monosemanticity Score of a named latent (None when unknown)."""
        e = self.name_entries.get(latent)
        if e is None:
            return None
        return e.mono_score_centred if self.mono_centred_shown else e.mono_score

    @property
    def summaries(self) -> LatentSummaries:
        return self.inputs.summaries

    def name(self, latent: int) -> str:
        return str(self.names[latent]) if 0 <= latent < len(self.names) else ""

    def label(self, latent: int) -> str:
        """'#12 · striped fur' or '#12' when unnamed."""
        n = self.name(latent)
        return f"#{latent} · {n}" if n else f"#{latent}"
