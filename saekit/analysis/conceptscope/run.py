"""The `saekit audit` command as a library function: `audit(AuditConfig(...)) -> AuditDocument`.

Opens the command's inputs once (one ``saekit.inputs.Inputs``: SAE, labelled dataset, model; a test
split or a CLIP text space through the same object), holds out test images, runs ConceptScope
(method.py), names the concepts, and writes examples/, index.html and audit.json (last) to `out`.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from saekit.analysis.conceptscope.config import AuditConfig
from saekit.common.errors import SaekitError
from saekit.inputs import Inputs

if TYPE_CHECKING:
    from saekit.analysis.alignment.text_space import TextSpace
    from saekit.results import AuditDocument

log = logging.getLogger(__name__)


def audit(cfg: AuditConfig, inputs: Inputs | None = None) -> AuditDocument:
    """The `audit` command: audit, write to cfg.out and return the document written there (audit.json).
    inputs: the SAE, dataset and model already opened (default: opened here from cfg, closed after)."""
    if inputs is not None:
        return _audit(cfg, inputs)
    from saekit.common.device import resolve_device

    with Inputs(sae=cfg.sae, data=cfg.data, model=cfg.model, device=str(resolve_device(cfg.device))) as opened:
        return _audit(cfg, opened)


def _audit(cfg: AuditConfig, inputs: Inputs) -> AuditDocument:
    from saekit.analysis.conceptscope.backend import ModelBackend
    from saekit.analysis.conceptscope.document import audit_document
    from saekit.analysis.conceptscope.method import conceptscope
    from saekit.analysis.conceptscope.report import index_html, render_examples
    from saekit.analysis.conceptscope.samples import SampleView, holdout_split, sample_meta
    from saekit.common.atomic import write_text_atomic
    from saekit.results import AuditDocument
    from saekit.results.audit import AuditDataset, AuditTest, ModelRef
    from saekit.results.fingerprint import dataset_fingerprint, sae_fingerprint
    from saekit.results.refs import SaeRef

    t0 = time.perf_counter()
    sae = inputs.sae  # a saekit checkpoint or a foreign spec (saelens:..., dictlearn:...); checked first
    ds = inputs.dataset
    if ds.modality == "text":
        raise SaekitError(f"--data {cfg.data!r} holds texts; the audit needs labelled images")
    model = inputs.model
    sae = sae.to(model.device)
    text_space, text_tokens = (_text_space(cfg.text_space, inputs) if cfg.text_space is not None else (None, "all"))
    backend = ModelBackend(model, sae, text_space, hook=cfg.hook, text_tokens=text_tokens)

    all_view = SampleView(ds)
    ids, labels = sample_meta(all_view, "dataset")
    if cfg.test_data is not None:
        train, test = all_view, SampleView(inputs.load_dataset(cfg.test_data))
    else:
        train_rows, test_rows = holdout_split(labels, cfg.held_out_frac, cfg.seed)
        train = SampleView(ds, train_rows)
        test = SampleView(ds, test_rows) if test_rows else None
        if test is not None:
            _check_holdout(labels, train_rows, cfg.min_images_per_class, cfg.held_out_frac)
    if test is None and cfg.classifier != "none":
        raise SaekitError("--classifier needs test images: pass --test-data or a --test-frac above 0")

    fp = sae_fingerprint(sae)
    names, names_source = _names_from(None if cfg.names is None else Path(cfg.names), fp)
    timings = {"load": time.perf_counter() - t0}
    result = conceptscope(backend, train, cfg.method(), test_samples=test, classifier=cfg.classifier, names=names)
    timings.update(result.timings)
    t1 = time.perf_counter()
    if names is None and cfg.vocab != "none":
        from saekit.analysis.conceptscope.names import vocabulary_names
        from saekit.data.vocab import load_vocab

        words = load_vocab(None if cfg.vocab == "default" else cfg.vocab)
        named = vocabulary_names(backend, result, train, words, seed=cfg.seed, batch_size=cfg.batch_size)
        result = result.renamed({j: w for j, (w, _) in named.items()})
        names_source = f"vocabulary ({'default' if cfg.vocab == 'default' else cfg.vocab}, top-images)"
    timings["naming"] = time.perf_counter() - t1
    result.timings = dict(timings)  # audit.json records every phase up to the report

    t2 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    AuditDocument.path_in(out).unlink(missing_ok=True)  # a directory with an audit.json holds a complete report
    result = render_examples(result, backend, train, out)
    doc = audit_document(
        result,
        sae=SaeRef(path=str(cfg.sae), fingerprint=fp, hook=backend.hook, d_sae=sae.cfg.d_sae, arch=sae.cfg.arch,
                   tokens=backend.tokens),
        model=ModelRef(id=model.model_id, revision=getattr(model, "revision", "")),
        dataset=AuditDataset(spec=cfg.data, fingerprint=dataset_fingerprint(ids, labels), n_total=len(ids),
                             held_out=0 if test is None or cfg.test_data else len(test)),
        test=None if test is None else AuditTest(spec=cfg.test_data or f"{cfg.held_out_frac:g} of --data held out",
                                                 n_images=len(test)),
        text_space=({"kind": "model", "model": model.model_id} if backend.text_space is None
                    else {**backend.text_space.describe(), "spec": str(cfg.text_space)}),
        names=names_source)
    write_text_atomic(out / "index.html", index_html(doc))
    doc.save(out)
    log.info("audit: %s, report %.1fs, total %.1fs", ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()),
             time.perf_counter() - t2, time.perf_counter() - t0)
    return doc


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


def _text_space(spec: str, inputs: Inputs) -> tuple[TextSpace, str]:
    """A `saekit align` output directory (fitted map) or a CLIP model spec (loaded through `inputs`, so the
    audited CLIP model is not loaded twice); plus the token selection of the store the map was fitted on
    (its features are that store's rows pooled), "all" when unknown."""
    from saekit.analysis.alignment.text_space import ClipTextSpace, load_text_space
    from saekit.results import AlignDocument

    p = Path(spec)
    if not p.is_dir():
        return (ClipTextSpace(inputs.load_model(spec), spec) if ":" in spec else load_text_space(spec)), "all"
    meta = AlignDocument.load(p)
    if meta.method == "clip":
        clip_spec = str(meta.text_space.model)
        return ClipTextSpace(inputs.load_model(clip_spec), clip_spec), "all"
    store_path = meta.store.path
    tokens = "all"
    if store_path and Path(store_path).exists():
        try:
            from stores import ActivationStore

            with ActivationStore.open(store_path) as store:  # only its recorded token selection is read
                tokens = str(store.attrs.get("tokens") or "all")
        except Exception:  # the store is only a hint for pooling; its absence is not an error
            tokens = "all"
    return load_text_space(p), tokens
