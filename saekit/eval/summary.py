"""What `saekit eval` and `saekit compare` print after a run, from their results."""
from __future__ import annotations

from saekit.common.jsontypes import JSONValue
from saekit.eval.command import Evaluation
from saekit.eval.config import CompareConfig, EvalConfig
from saekit.results.compare import CompareDocument

#: detail tables and histograms left out of the printed tree (they are in --json and eval.json's source)
_LEFT_OUT = ("per_class", "hist", "hist_centred", "density_hist")


def _print_tree(prefix: str, value: JSONValue) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in _LEFT_OUT:
                _print_tree(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, float):
        print(f"{prefix:<44} {value:.6g}")
    else:
        print(f"{prefix:<44} {value}")


def summarize(result: Evaluation, cfg: EvalConfig) -> None:
    """`saekit eval`: the split, then every metric as one dotted name and its value a line."""
    split = result.details["split"]
    print(f"split: {split['name']} (fraction {split['fraction']}){'; ' + split['note'] if split['note'] else ''}")
    _print_tree("", result.details["metrics"])


def summarize_compare(doc: CompareDocument, cfg: CompareConfig) -> None:
    """`saekit compare`: L0, FVE and the dead fraction of every SAE."""
    nan = float("nan")
    for e in doc.saes:
        l0, fve, dead = (e.value("core", key) for key in ("l0", "fve", "dead_frac"))
        print(f"{e.name:<24} L0={nan if l0 is None else l0:.2f} FVE={nan if fve is None else fve:.4f} "
              f"dead={nan if dead is None else dead:.3f}")
    print(f"wrote {cfg.out}/compare.json and report.html ({doc.split.name} split, {doc.n_rows} rows)")
