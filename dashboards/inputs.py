"""What the dashboard browses: latent summaries, the store, and optional names / audit / artifacts.

Loading checks that the pieces belong together (fingerprints, d_sae, dataset) so a mismatch is
reported as one clear line instead of a page that silently shows the wrong images.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saekit.errors import SaekitError
from saekit.jsonfile import read_json_object

log = logging.getLogger(__name__)


@dataclass
class DashboardInputs:
    """Everything the views read. Only `summaries` and `store` are required."""

    summaries: Any                    # saekit.analysis.summaries.LatentSummaries (or the same attributes)
    store: Any                        # stores.ActivationStore (samples, attrs, rows_for_sample)
    sae: Any = None                   # saekit SAE, for on-demand heatmaps of non-top samples
    sae_dir: Path | None = None
    store_path: Path | None = None
    names: dict | None = None
    names_dir: Path | None = None
    audit: dict | None = None
    audit_dir: Path | None = None
    artifacts: dict | None = None
    artifacts_dir: Path | None = None
    model: Any = None                 # saekit.models model, only for the steering panel
    model_spec: str | None = None
    audit_same_dataset: bool = False  # the audit's sample ids are the store's (same dataset spec)
    problems: list[str] = field(default_factory=list)   # shown as banners on every page

    @property
    def hook(self) -> str:
        return str(self.summaries.hook)

    @property
    def d_sae(self) -> int:
        return int(self.summaries.d_sae)

    def output_roots(self) -> dict[str, Path]:
        """URL prefix -> directory for the images the app may serve from output directories."""
        roots = {"names": self.names_dir, "audit": self.audit_dir, "artifacts": self.artifacts_dir}
        return {k: Path(v) for k, v in roots.items() if v is not None}


# ---------------------------------------------------------------------------- output files
def read_output(directory: str | os.PathLike, filename: str, kind: str) -> dict:
    """Read DIR/filename and check its "kind"; SaekitError naming the file when it is not usable."""
    directory = Path(directory)
    path = directory / filename
    if not directory.is_dir():
        raise SaekitError(f"{directory} is not a directory (expected the output of `saekit {kind}`)")
    if not path.is_file():
        raise SaekitError(f"{directory} has no {filename} (expected the output directory of `saekit {kind}`)")
    data = read_json_object(path)
    if data.get("kind") != kind:
        raise SaekitError(f"{path} has kind {data.get('kind')!r}, expected {kind!r}")
    return data


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


# ---------------------------------------------------------------------------- consistency checks
def check_names(names: dict, summaries: Any) -> list[str]:
    """Problems that make names.json unusable with these summaries (empty list = fine)."""
    problems = []
    fp = _get(names, "sae", "fingerprint")
    if fp is not None and str(fp) != str(summaries.sae_fingerprint):
        problems.append(f"--names was made for another SAE (fingerprint {fp}, this SAE is "
                        f"{summaries.sae_fingerprint}); rerun `saekit name` on this SAE")
    d = _get(names, "sae", "d_sae")
    if d is not None and int(d) != int(summaries.d_sae):
        problems.append(f"--names covers {d} latents but this SAE has {summaries.d_sae}")
    hook = _get(names, "sae", "hook")
    if hook is not None and str(hook) != str(summaries.hook):
        problems.append(f"--names is for hook {hook!r} but the SAE reads {summaries.hook!r}")
    latents = names.get("latents")
    if not isinstance(latents, list):
        problems.append("--names: names.json has no 'latents' list")
    else:
        bad = [e for e in latents[:1000] if not isinstance(e, dict) or not isinstance(e.get("latent"), int)
               or not 0 <= e["latent"] < int(summaries.d_sae)]
        if bad:
            problems.append(f"--names: names.json has latent entries outside 0..{summaries.d_sae - 1}")
    return problems


def store_dataset_fingerprint(store: Any) -> str | None:
    attrs = dict(getattr(store, "attrs", {}) or {})
    for key in ("dataset_fingerprint",):
        if attrs.get(key):
            return str(attrs[key])
    ds = attrs.get("dataset")
    if isinstance(ds, dict) and ds.get("fingerprint"):
        return str(ds["fingerprint"])
    return None


def store_labels(store: Any, limit: int = 200_000) -> set[str]:
    """The distinct labels of the store's samples (the first `limit` samples)."""
    labels: set[str] = set()
    for i, sid in enumerate(store.samples):
        if i >= limit:
            break
        label = store.samples[sid].get("label")
        if label is not None:
            labels.add(str(label))
    return labels


def check_audit(audit: dict, summaries: Any, store: Any) -> list[str]:
    problems = []
    fp = _get(audit, "sae", "fingerprint")
    if fp is not None and str(fp) != str(summaries.sae_fingerprint):
        problems.append(f"--audit was made for another SAE (fingerprint {fp}, this SAE is "
                        f"{summaries.sae_fingerprint}); rerun `saekit audit` with this SAE")
    if not isinstance(audit.get("classes"), dict):
        problems.append("--audit: audit.json has no 'classes' mapping")
        return problems
    ds_fp = _get(audit, "dataset", "fingerprint")
    st_fp = store_dataset_fingerprint(store)
    if ds_fp is not None and st_fp is not None and str(ds_fp) != st_fp:
        problems.append(f"--audit is for another dataset ({_get(audit, 'dataset', 'spec')!r}, fingerprint "
                        f"{ds_fp}; the store's dataset is {st_fp})")
    elif audit["classes"]:
        labels = store_labels(store)
        classes = {str(c) for c in audit["classes"]}
        if labels and not labels & classes:
            some = ", ".join(sorted(classes)[:3])
            problems.append(f"--audit is for another dataset: none of its classes ({some}, ...) is a label "
                            f"in the store")
    return problems


def same_dataset(audit: dict, store: Any) -> bool:
    """True when the audit ran on the dataset the store was captured from (same spec or fingerprint),
    so its example_sample_ids are store sample ids."""
    ds_fp, st_fp = _get(audit, "dataset", "fingerprint"), store_dataset_fingerprint(store)
    if ds_fp is not None and st_fp is not None:
        return str(ds_fp) == st_fp
    spec, data = _get(audit, "dataset", "spec"), (getattr(store, "attrs", {}) or {}).get("data")
    if not isinstance(spec, str) or not isinstance(data, str):
        return False
    if spec == data:
        return True
    try:
        return Path(spec).resolve() == Path(data).resolve() and Path(spec).exists()
    except OSError:
        return False


def check_artifacts(artifacts: dict, store: Any) -> list[str]:
    problems = []
    if not isinstance(artifacts.get("layers"), list):
        problems.append("--artifacts: artifacts.json has no 'layers' list")
    model = artifacts.get("model")
    model_id = model.get("id") if isinstance(model, dict) else model
    store_model = (getattr(store, "attrs", {}) or {}).get("model_id")
    if model_id and store_model and str(model_id) != str(store_model):
        problems.append(f"--artifacts is for model {model_id!r} but the store was captured from {store_model!r}")
    return problems


# ---------------------------------------------------------------------------- loading
def attach_outputs(inputs: DashboardInputs, names_dir: Any = None, audit_dir: Any = None,
                   artifacts_dir: Any = None, strict: bool = True) -> DashboardInputs:
    """Read and check the optional output directories. strict: raise on the first problem;
    otherwise record it in `inputs.problems` and leave that input out."""

    def accept(label: str, directory: Any, filename: str, kind: str, check) -> tuple[dict | None, Path | None]:
        if directory is None:
            return None, None
        try:
            data = read_output(directory, filename, kind)
        except SaekitError as exc:
            if strict:
                raise SaekitError(f"{label}: {exc}") from None
            inputs.problems.append(f"{label}: {exc}")
            return None, None
        problems = check(data)
        if problems:
            if strict:
                raise SaekitError(problems[0])
            inputs.problems.extend(problems)
            return None, None
        return data, Path(directory).resolve()

    inputs.names, inputs.names_dir = accept("--names", names_dir, "names.json", "names",
                                            lambda d: check_names(d, inputs.summaries))
    names_store = _get(inputs.names, "store", "fingerprint")
    if names_store is not None and str(names_store) != str(inputs.summaries.store_fingerprint):
        # names of this SAE stay valid on another store; only their own top examples would not match
        inputs.problems.append(f"--names was computed on another store (fingerprint {names_store}, this "
                               f"store is {inputs.summaries.store_fingerprint}): names are shown, examples "
                               "come from this store")
    inputs.audit, inputs.audit_dir = accept("--audit", audit_dir, "audit.json", "audit",
                                            lambda d: check_audit(d, inputs.summaries, inputs.store))
    inputs.audit_same_dataset = inputs.audit is not None and same_dataset(inputs.audit, inputs.store)
    inputs.artifacts, inputs.artifacts_dir = accept("--artifacts", artifacts_dir, "artifacts.json", "artifacts",
                                                    lambda d: check_artifacts(d, inputs.store))
    return inputs


def load_inputs(sae_dir: str | os.PathLike, store_path: str | os.PathLike, *, names_dir: Any = None,
                audit_dir: Any = None, artifacts_dir: Any = None, model: str | None = None,
                strict: bool = True, progress: bool = True, device: str = "cpu") -> DashboardInputs:
    """Open the SAE and store, load (or compute once and save) the latent summaries next to the
    SAE, then attach and check the optional output directories."""
    from saekit.analysis.summaries import load_or_compute
    from saekit.sae import SAE
    from stores import ActivationStore

    from saekit.sae.formats import work_dir

    store_path = Path(store_path)
    if not store_path.exists():
        raise SaekitError(f"--store {store_path} does not exist (expected a .h5 store or a shard directory)")
    sae = SAE.load(sae_dir)  # a saekit checkpoint or a foreign SAE spec (saelens:..., dictlearn:...)
    sae_dir = work_dir(sae_dir)  # where its summaries are cached
    store = ActivationStore.open(store_path)
    summaries = load_or_compute(sae, sae_dir, store, progress=progress, device=device)
    inputs = DashboardInputs(summaries=summaries, store=store, sae=sae, sae_dir=sae_dir.resolve(),
                             store_path=store_path.resolve())
    attach_outputs(inputs, names_dir, audit_dir, artifacts_dir, strict=strict)
    if model is not None:
        from saekit.models import load_model

        inputs.model = load_model(model, device=device)
        inputs.model_spec = model
    return inputs


def latent_names(inputs: DashboardInputs) -> np.ndarray:
    """[d_sae] str: the names.json name of each latent, "" when unnamed."""
    out = np.full(inputs.d_sae, "", dtype=object)
    for e in (inputs.names or {}).get("latents", []) or []:
        i = e.get("latent")
        if isinstance(i, int) and 0 <= i < inputs.d_sae and e.get("name"):
            out[i] = str(e["name"])
    return out.astype(str)
