"""`saekit compare`: one metric suite on several SAEs over the same held-out rows; JSON + HTML report.

Every SAE reads the same rows (one load of the store), so differences are the SAEs' own. The SAEs
must read the same hook with the same input width (comparing across hooks is meaningless);
widths may differ. Held-out rows: the split the checkpoints record, which must agree between the
SAEs that record one; stability is measured for every pair.
"""
from __future__ import annotations

import logging
from pathlib import Path

from saekit.common.atomic import atomic_directory
from saekit.common.errors import SaekitError
from saekit.eval.compare_report import write_compare_report
from saekit.eval.rows import EvalRows, SplitInfo, load_rows, resolve_split
from saekit.eval.stability import decoder_stability
from saekit.eval.config import CompareConfig
from saekit.eval.registry import MetricInputs, suite_metrics
from saekit.eval.suite import applicable, run_metrics
from saekit.eval.transcoder import is_paired, paired_rows
from saekit.inputs import Inputs
from saekit.results.compare import CompareDocument
from saekit.sae import load_sae, SAE

log = logging.getLogger(__name__)


def check_same_space(saes: list[SAE], labels: list[str]) -> None:
    first = saes[0].cfg
    for sae, name in zip(saes[1:], labels[1:]):
        if sae.cfg.d_in != first.d_in:
            raise SaekitError(f"compare: {name} reads d_in={sae.cfg.d_in} but {labels[0]} reads d_in={first.d_in}; "
                              "SAEs of different inputs cannot be compared on one store")
        if sae.cfg.hook and first.hook and sae.cfg.hook != first.hook:
            raise SaekitError(f"compare: {name} reads hook {sae.cfg.hook!r} but {labels[0]} reads {first.hook!r}; "
                              "compare SAEs of one hook")
        if sae.cfg.output_hooks != first.output_hooks:
            raise SaekitError(f"compare: {name} writes {', '.join(sae.cfg.output_hooks)} but {labels[0]} writes "
                              f"{', '.join(first.output_hooks)}; compare SAEs, or transcoders, of the same hooks")


def common_split(saes: list[SAE], labels: list[str], split: str, holdout: float | None) -> SplitInfo:
    infos = [resolve_split(s, split, holdout) for s in saes]
    recorded = {(i.name, i.fraction, i.salt) for i in infos if i.name != "all"}
    if len(recorded) > 1:
        detail = ", ".join(f"{n}: {i.name} {i.fraction}" for n, i in zip(labels, infos))
        raise SaekitError(f"compare: the SAEs record different held-out splits ({detail}); evaluate them with "
                          "--split all or train them with the same --holdout")
    chosen = next((i for i in infos if i.name != "all"), infos[0])
    unrecorded = [n for n, i in zip(labels, infos) if i.name == "all"]
    if chosen.name != "all" and unrecorded:
        chosen = SplitInfo(chosen.name, chosen.fraction, chosen.salt,
                           f"{', '.join(unrecorded)} record no held-out split: these rows may include their training rows")
    return chosen


def compare(cfg: CompareConfig) -> CompareDocument:
    """Run cfg.suite on every SAE over the same rows of cfg.store; write compare.json and report.html to cfg.out."""
    from saekit.common.device import resolve_device

    device = str(resolve_device(cfg.device))
    with Inputs(store=cfg.store, model=cfg.model, device=device) as inputs:
        return _compare(cfg, inputs)


def _compare(cfg: CompareConfig, inputs: Inputs) -> CompareDocument:
    saes = [load_sae(p, device=inputs.device) for p in cfg.saes]
    labels = list(cfg.names) or _default_names(cfg.saes)
    check_same_space(saes, labels)
    source = inputs.store
    split = common_split(saes, labels, cfg.split, cfg.holdout)
    rows: EvalRows = (paired_rows(saes[0], source, split, cfg.max_rows, cfg.max_samples) if is_paired(saes[0])
                      else load_rows(source, cfg.hook or saes[0].cfg.hook, split, cfg.max_rows, cfg.max_samples))
    metrics = tuple(m for m in applicable(suite_metrics(cfg.suite), saes[0])
                    if "second_sae" not in m.inputs)  # pairs: below
    inp = MetricInputs(inputs, None, cfg.ms_embeddings, None, cfg.seed, cfg.model, inputs.device, cfg.ms_max_samples)
    entries = []
    for name, path, sae in zip(labels, cfg.saes, saes):
        log.info("evaluating %s", name)
        res = run_metrics(sae, rows, metrics, inp, strict=cfg.suite != "all", batch_size=cfg.batch_size)
        entries.append({"name": name, "path": str(path), "arch": sae.cfg.arch, "d_sae": sae.cfg.d_sae,
                        "k": sae.cfg.k, "metrics": res})
    pairs = []
    for i in range(len(saes)):
        for j in range(i + 1, len(saes)):
            try:
                st = decoder_stability(saes[i], saes[j])
            except SaekitError as exc:
                st = {"skipped": str(exc)}
            pairs.append({"a": labels[i], "b": labels[j], **st})
    doc = CompareDocument.of({"store": cfg.store, "hook": rows.hook, "suite": cfg.suite, "split": split.to_dict(),
                              "n_rows": rows.n_rows, "n_samples": int(len(set(rows.sample_id.tolist()))),
                              "saes": entries, "stability": pairs})
    with atomic_directory(Path(cfg.out)) as tmp:
        doc.save(tmp)
        write_compare_report(tmp / "report.html", doc)
    return doc


def _default_names(paths: tuple[str, ...]) -> list[str]:
    names = [Path(p).name or str(p) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names
