"""What the dashboard browses: latent summaries, the store, and optional names / audit / artifacts
documents (saekit.results), plus the model for the steering page, loaded on first use.

Loading checks that the pieces belong together (fingerprints, d_sae, hook, dataset, model) so a
mismatch is reported as one clear line instead of a page that silently shows the wrong images.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar, Union

import numpy as np

from saekit.common.errors import SaekitError
from saekit.results import (ArtifactsDocument, AuditDocument, Document, LatentSummaries, NamesDocument,
                            StoreMetadata)

if TYPE_CHECKING:
    from saekit.models.base import HookedModel
    from saekit.sae import load_sae, SAE
    from stores import ActivationStore

log = logging.getLogger(__name__)
D = TypeVar("D", bound=Document)
OptionalPath = Union[str, os.PathLike, None]  # an output directory that may be left out


@dataclass
class DashboardInputs:
    """Everything the views read. Only `summaries` and `store` are required."""

    summaries: LatentSummaries
    store: ActivationStore
    meta: StoreMetadata = field(default_factory=StoreMetadata)
    sae: SAE | None = None            # for on-demand heatmaps of non-top samples and steering
    sae_dir: Path | None = None
    store_path: Path | None = None
    names: NamesDocument | None = None
    names_dir: Path | None = None
    audit: AuditDocument | None = None
    audit_dir: Path | None = None
    artifacts: ArtifactsDocument | None = None
    artifacts_dir: Path | None = None
    model_spec: str | None = None     # --model, else the model the store was captured from
    model_given: bool = False         # model_spec came from --model
    device: str = "cpu"
    audit_same_dataset: bool = False  # the audit's sample ids are the store's (same dataset spec)
    problems: list[str] = field(default_factory=list)   # shown as banners on every page
    _model: HookedModel | None = field(default=None, repr=False)
    _model_error: str | None = field(default=None, repr=False)
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def hook(self) -> str:
        return str(self.summaries.hook)

    @property
    def hook_label(self) -> str:
        """The hook as the pages show it: a transcoder's input and target hooks ("IN -> OUT (transcoder)"),
        a crosscoder's hooks ("A + B (crosscoder)")."""
        cfg = getattr(self.sae, "cfg", None)
        targets = tuple(getattr(cfg, "target_hooks", ()) or ())
        in_hooks = tuple(getattr(cfg, "in_hooks", ()) or ())
        if targets:
            return f"{self.hook} → {', '.join(targets)} (transcoder)"
        return f"{' + '.join(in_hooks)} (crosscoder)" if len(in_hooks) > 1 else self.hook

    @property
    def d_sae(self) -> int:
        return int(self.summaries.d_sae)

    def output_roots(self) -> dict[str, Path]:
        """URL prefix -> directory for the images the app may serve from output directories."""
        roots = {"names": self.names_dir, "audit": self.audit_dir, "artifacts": self.artifacts_dir}
        return {k: Path(v) for k, v in roots.items() if v is not None}

    # ------------------------------------------------------------------ the model (steering)
    @property
    def loaded_model(self) -> HookedModel | None:
        """The model if it has been loaded already (never loads it)."""
        return self._model

    def get_model(self) -> HookedModel:
        """The model, loaded on first call from `model_spec`; SaekitError (the same line every time)
        when there is no spec or it cannot be loaded."""
        if self._model is not None:
            return self._model
        with self._model_lock:
            if self._model is None and self._model_error is None:
                self._load_model()
        if self._model is None:
            raise SaekitError(self._model_error or "no model")
        return self._model

    def _load_model(self) -> None:
        if not self.model_spec:
            self._model_error = ("the store records no model (attribute model_id); relaunch with "
                                 "`saekit dashboard ... --model MODEL`")
            return
        from saekit.models import load_model

        t0 = time.perf_counter()
        try:
            self._model = load_model(self.model_spec, device=self.device)
        except SaekitError as exc:
            self._model_error = f"the model {self.model_spec!r} could not be loaded: {exc}"
        except Exception as exc:  # noqa: BLE001 - a model that fails to load leaves the rest of the app working
            self._model_error = f"the model {self.model_spec!r} could not be loaded ({type(exc).__name__}: {exc})"
        else:
            log.info("loaded model %s for steering in %.1f s", self.model_spec, time.perf_counter() - t0)


# ---------------------------------------------------------------------------- consistency checks
def check_names(names: NamesDocument, summaries: LatentSummaries) -> list[str]:
    """Problems that make names.json unusable with these summaries (empty list = fine)."""
    problems = []
    fp = names.sae.fingerprint
    if fp and fp != summaries.sae_fingerprint:
        problems.append(f"--names was made for another SAE (fingerprint {fp}, this SAE is "
                        f"{summaries.sae_fingerprint}); rerun `saekit name` on this SAE")
    if names.sae.d_sae and names.sae.d_sae != summaries.d_sae:
        problems.append(f"--names covers {names.sae.d_sae} latents but this SAE has {summaries.d_sae}")
    if names.sae.hook and names.sae.hook != summaries.hook:
        problems.append(f"--names is for hook {names.sae.hook!r} but the SAE reads {summaries.hook!r}")
    if any(not 0 <= e.latent < summaries.d_sae for e in names.latents):
        problems.append(f"--names: names.json has latent entries outside 0..{summaries.d_sae - 1}")
    return problems


def store_labels(store: ActivationStore, limit: int = 200_000) -> set[str]:
    """The distinct labels of the store's samples (the first `limit` samples)."""
    labels: set[str] = set()
    for i, sid in enumerate(store.samples):
        if i >= limit:
            break
        label = store.samples[sid].get("label")
        if label is not None:
            labels.add(str(label))
    return labels


def same_dataset(audit: AuditDocument, meta: StoreMetadata) -> bool:
    """True when the audit ran on the dataset the store was captured from (the same dataset spec),
    so its example_sample_ids are store sample ids."""
    spec, data = audit.dataset.spec, meta.data
    if not spec or not data:
        return False
    if spec == data:
        return True
    try:
        return Path(spec).exists() and Path(spec).resolve() == Path(data).resolve()
    except OSError:
        return False


def check_audit(audit: AuditDocument, summaries: LatentSummaries, store: ActivationStore,
                meta: StoreMetadata) -> list[str]:
    problems = []
    fp = audit.sae.fingerprint
    if fp and fp != summaries.sae_fingerprint:
        problems.append(f"--audit was made for another SAE (fingerprint {fp}, this SAE is "
                        f"{summaries.sae_fingerprint}); rerun `saekit audit` with this SAE")
    if audit.classes and not same_dataset(audit, meta):
        labels = store_labels(store)
        if labels and not labels & set(audit.classes):
            some = ", ".join(sorted(audit.classes)[:3])
            problems.append(f"--audit is for another dataset ({audit.dataset.spec!r}): none of its classes "
                            f"({some}, ...) is a label in the store")
    return problems


def check_artifacts(artifacts: ArtifactsDocument, meta: StoreMetadata) -> list[str]:
    if artifacts.model and meta.model_id and artifacts.model != meta.model_id:
        return [f"--artifacts is for model {artifacts.model!r} but the store was captured from {meta.model_id!r}"]
    return []


# ---------------------------------------------------------------------------- loading
def attach_outputs(inputs: DashboardInputs, names_dir: OptionalPath = None, audit_dir: OptionalPath = None,
                   artifacts_dir: OptionalPath = None, strict: bool = True) -> DashboardInputs:
    """Load and check the optional output directories. strict: raise on the first problem;
    otherwise record it in `inputs.problems` and leave that input out."""

    def accept(label: str, directory: OptionalPath, cls: type[D],
               check: Callable[[D], list[str]]) -> tuple[D | None, Path | None]:
        if directory is None:
            return None, None
        try:
            if not Path(directory).is_dir():
                raise SaekitError(f"{directory} is not a directory (expected the output of `saekit {cls.COMMAND}`)")
            doc = cls.load(directory)
        except SaekitError as exc:
            if strict:
                raise SaekitError(f"{label}: {exc}") from None
            inputs.problems.append(f"{label}: {exc}")
            return None, None
        problems = check(doc)
        if problems:
            if strict:
                raise SaekitError(problems[0])
            inputs.problems.extend(problems)
            return None, None
        return doc, Path(directory).resolve()

    s = inputs.summaries
    inputs.names, inputs.names_dir = accept("--names", names_dir, NamesDocument, lambda d: check_names(d, s))
    if inputs.names is not None and inputs.names.store.fingerprint not in ("", s.store_fingerprint):
        # names of this SAE stay valid on another store; only their own top examples would not match
        inputs.problems.append(f"--names was computed on another store (fingerprint {inputs.names.store.fingerprint}, "
                               f"this store is {s.store_fingerprint}): names are shown, examples come from this store")
    inputs.audit, inputs.audit_dir = accept("--audit", audit_dir, AuditDocument,
                                            lambda d: check_audit(d, s, inputs.store, inputs.meta))
    inputs.audit_same_dataset = inputs.audit is not None and same_dataset(inputs.audit, inputs.meta)
    inputs.artifacts, inputs.artifacts_dir = accept("--artifacts", artifacts_dir, ArtifactsDocument,
                                                    lambda d: check_artifacts(d, inputs.meta))
    return inputs


def load_inputs(sae_dir: str | os.PathLike, store_path: str | os.PathLike, *, names_dir: OptionalPath = None,
                audit_dir: OptionalPath = None, artifacts_dir: OptionalPath = None, model: str | None = None,
                strict: bool = True, progress: bool = True, device: str = "cpu") -> DashboardInputs:
    """Open the SAE and store, load (or compute once and save) the latent summaries next to the
    SAE, then attach and check the optional output directories. The model (`model`, else the
    store's model_id) is only loaded when a page first needs it (DashboardInputs.get_model)."""
    from saekit.analysis.summaries import load_or_compute
    from saekit.inputs.checks import open_store
    from saekit.sae import load_sae, SAE
    from stores import ActivationStore

    from saekit.sae.formats import work_dir

    from stores.remote import is_remote

    remote = is_remote(store_path)  # object storage: ActivationStore.open says what is wrong with it
    store_path = Path(store_path) if not remote else str(store_path)
    if not remote and not store_path.exists():
        raise SaekitError(f"--store {store_path} does not exist (expected a .h5 store or a shard directory)")
    sae = load_sae(sae_dir)  # a saekit checkpoint or a foreign SAE spec (saelens:..., dictlearn:...)
    sae_dir = work_dir(sae_dir)  # where its summaries are cached
    store = open_store(ActivationStore.open(store_path), sae)  # a crosscoder's hooks side by side
    meta = StoreMetadata.from_store(store)
    summaries = load_or_compute(sae, sae_dir, store, progress=progress, device=device)
    inputs = DashboardInputs(summaries=summaries, store=store, meta=meta, sae=sae, sae_dir=sae_dir.resolve(),
                             store_path=None if remote else store_path.resolve(), model_spec=model or meta.model_id or None,
                             model_given=model is not None, device=device)
    attach_outputs(inputs, names_dir, audit_dir, artifacts_dir, strict=strict)
    return inputs


def latent_names(inputs: DashboardInputs) -> np.ndarray:
    """[d_sae] str: the names.json name of each latent, "" when unnamed."""
    out = np.full(inputs.d_sae, "", dtype=object)
    for e in inputs.names.latents if inputs.names is not None else ():
        if 0 <= e.latent < inputs.d_sae and e.name:
            out[e.latent] = e.name
    return out.astype(str)
