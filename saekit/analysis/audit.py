"""The `saekit audit` command as a library function: `audit(AuditConfig(...)) -> AuditDocument`
(`run_audit` returns the in-memory result too).

Loads the labelled dataset, the model, the SAE and the text space, holds out test images, runs
ConceptScope (conceptscope.py), names the concepts and writes audit.json + index.html + examples/
(concept_report.py) to `out`. Every field of ConceptScopeConfig is a field here too (the method's
parameters), so one frozen config describes the whole command.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from saekit.analysis.concept_categories import BIAS_RULES, VALIDITY_RULES
from saekit.analysis.conceptscope_config import CLASSIFIERS, SIMILARITIES, ConceptScopeConfig
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.analysis.conceptscope import AuditResult
    from saekit.results import AuditDocument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditConfig(ConceptScopeConfig):
    model: str = ""  # image model spec the SAE was trained on (hf:..., random:clip, offline:dinov2-small)
    data: str = ""  # labelled image dataset: a folder with one sub-folder per class, hfds:DIR, bundled:clipart
    sae: str = ""  # SAE (trained on patch or all tokens): a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:)
    out: str = ""  # output directory
    text_space: str | None = None  # a `saekit align` output directory (needed for encoders without a text tower) or a CLIP model spec; default: the model's own text tower
    classifier: str = "none"  # accuracy per sub-group: probe = logistic regression on pooled features, zero-shot = nearest class text, logits = the model's class head
    test_data: str | None = None  # test images for the sub-groups (default: hold out --test-frac of --data)
    test_frac: float | None = None  # fraction of each class held out as test images without --test-data (default 0.2; 0: no sub-groups)
    names: str | None = None  # directory of `saekit name` output (names.json) for concept names
    vocab: str = "default"  # without --names: name concepts by the closest word of this vocabulary file ('default': the shipped one, 'none': 'latent N')
    hook: str | None = None  # hook to read (default: the SAE's own hook; must match it)
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N

    #: the command-line spelling the audit always had (saekit.cli.configcli)
    CLI: ClassVar[dict[str, dict]] = {
        # required although the fields have defaults (a dataclass base with defaults forces them)
        "model": {"required": True}, "data": {"required": True}, "sae": {"required": True}, "out": {"required": True},
        "n_per_class": {"flag": "--per-class"},
        "min_images_per_class": {"flag": "--min-per-class"}, "n_examples": {"flag": "--examples"},
        "classifier": {"choices": CLASSIFIERS}, "validity": {"choices": VALIDITY_RULES},
        "bias_rule": {"choices": BIAS_RULES}, "similarity": {"choices": SIMILARITIES}}

    def __post_init__(self) -> None:
        super().__post_init__()
        for what in ("model", "data", "sae", "out"):
            if not getattr(self, what):
                raise SaekitError(f"audit needs --{what}")
        if self.test_data is not None and self.test_frac is not None:
            raise SaekitError("give either --test-data or --test-frac, not both")

    def method(self) -> ConceptScopeConfig:
        """The method's parameters alone."""
        names = ConceptScopeConfig.__dataclass_fields__
        return ConceptScopeConfig(**{k: getattr(self, k) for k in names})


@dataclass
class AuditRun:
    result: AuditResult
    path: Path  # audit.json
    meta: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


def audit(config: AuditConfig) -> AuditDocument:
    """The `audit` command: run the audit (``run_audit``) and return what it wrote to config.out, audit.json."""
    from saekit.results import AuditDocument

    return AuditDocument.load(run_audit(config).path)


def run_audit(config: AuditConfig) -> AuditRun:
    """The audit with its in-memory result (activations of the audited and test images included)."""
    from saekit.analysis.concept_backend import ModelBackend
    from saekit.analysis.concept_report import write_report
    from saekit.analysis.conceptscope import SampleView, conceptscope, holdout_split, sample_meta
    from saekit.data import load_dataset
    from saekit.results.fingerprint import dataset_fingerprint, sae_fingerprint
    from saekit.models import load_model
    from saekit.sae import load_sae, SAE

    cfg = config
    t0 = time.perf_counter()
    sae = load_sae(cfg.sae)  # a saekit checkpoint or a foreign spec (saelens:..., dictlearn:...); checked first
    test_frac = 0.2 if cfg.test_frac is None else cfg.test_frac
    ds = load_dataset(cfg.data)
    if ds.modality == "text":
        raise SaekitError(f"--data {cfg.data!r} holds texts; the audit needs labelled images")
    model = load_model(cfg.model, device=cfg.device)
    sae = sae.to(model.device)
    text_space, text_tokens = (_load_text_space(cfg.text_space, model.device) if cfg.text_space is not None
                               else (None, "all"))
    backend = ModelBackend(model, sae, text_space, hook=cfg.hook, text_tokens=text_tokens)

    all_view = SampleView(ds)
    ids, labels = sample_meta(all_view, "dataset")
    if cfg.test_data is not None:
        train, test = all_view, SampleView(load_dataset(cfg.test_data))
    else:
        train_rows, test_rows = holdout_split(labels, test_frac, cfg.seed)
        train = SampleView(ds, train_rows)
        test = SampleView(ds, test_rows) if test_rows else None
        if test is not None:
            _check_holdout(labels, train_rows, cfg.min_images_per_class, test_frac)
    if test is None and cfg.classifier != "none":
        raise SaekitError("--classifier needs test images: pass --test-data or a --test-frac above 0")

    fp = sae_fingerprint(sae)
    names, names_source = _names_from(None if cfg.names is None else Path(cfg.names), fp)
    timings = {"load": time.perf_counter() - t0}
    result = conceptscope(backend, train, cfg.method(), test_samples=test, classifier=cfg.classifier, names=names)
    timings.update(result.timings)
    t1 = time.perf_counter()
    if names is None and cfg.vocab != "none":
        from saekit.analysis.concept_names import apply_names, vocabulary_names
        from saekit.data.vocab import load_vocab

        words = load_vocab(None if cfg.vocab == "default" else cfg.vocab)
        named = vocabulary_names(backend, result, train, words, seed=cfg.seed, batch_size=cfg.batch_size)
        apply_names(result, {j: w for j, (w, _) in named.items()})
        names_source = f"vocabulary ({'default' if cfg.vocab == 'default' else cfg.vocab}, top-images)"
    timings["naming"] = time.perf_counter() - t1
    meta = {
        "sae": {"path": str(cfg.sae), "fingerprint": fp, "hook": backend.hook, "d_sae": sae.cfg.d_sae,
                "tokens": backend.tokens, "arch": sae.cfg.arch},
        "model": {"id": model.model_id, "revision": getattr(model, "revision", "")},
        "dataset": {"spec": cfg.data, "fingerprint": dataset_fingerprint(ids, labels), "n_total": len(ids),
                    "held_out": 0 if test is None or cfg.test_data else len(test)},
        "test": None if test is None else {"spec": cfg.test_data or f"{test_frac:g} of --data held out",
                                           "n_images": len(test)},
        "text_space": ({"kind": "model", "model": model.model_id} if backend.text_space is None
                       else {**backend.text_space.describe(), "spec": str(cfg.text_space)}),
        "names": names_source,
    }
    result.timings = dict(timings)  # audit.json records every phase up to the report
    t2 = time.perf_counter()
    path = write_report(result, backend, train, Path(cfg.out), meta)
    timings["report"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    log.info("audit: %s", ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return AuditRun(result, path, meta, timings)


def _names_from(names_dir: Path | None, sae_fp: str) -> tuple[dict[int, str] | None, str]:
    from saekit.results import NamesDocument

    if names_dir is None:
        return None, "latent index"
    try:
        doc = NamesDocument.load(names_dir)
    except SaekitError as exc:
        raise SaekitError(f"--names: {exc}") from None
    fp = doc.sae.fingerprint
    if fp and fp != sae_fp:
        raise SaekitError(f"--names {names_dir} was made for SAE {fp}, not this SAE ({sae_fp}); name this SAE first")
    return {e.latent: e.name or f"latent {e.latent}" for e in doc.latents}, "names.json"


def _check_holdout(labels: list[str], train_rows: list[int], min_images: int, test_frac: float) -> None:
    total = Counter(labels)
    kept = Counter(labels[i] for i in train_rows)
    for name in sorted(total):
        if kept[name] < min_images:
            raise SaekitError(
                f"class {name!r} has {total[name]} image(s); after holding out {test_frac:g} for testing {kept[name]} "
                f"remain, and the audit needs at least {min_images} per class (add images, lower --test-frac or pass --test-data)")


def _load_text_space(spec: str, device: Any) -> tuple[Any, str]:
    """A `saekit align` output directory (fitted map) or a CLIP model spec; plus the token selection of the
    store the map was fitted on (its features are that store's rows pooled), "all" when unknown."""
    from saekit.analysis.alignment import load_text_space, read_align_json

    space = load_text_space(spec, device=str(device))
    tokens = "all"
    p = Path(spec)
    if p.is_dir():
        store_path = (read_align_json(p).get("store") or {}).get("path")
        if store_path and Path(store_path).exists():
            try:
                from stores import ActivationStore

                tokens = str(ActivationStore.open(store_path).attrs.get("tokens") or "all")
            except Exception:  # the store is only a hint for pooling; its absence is not an error
                tokens = "all"
    return space, tokens
