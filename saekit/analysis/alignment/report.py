"""index.html of `saekit align`, from its document."""
from __future__ import annotations

from pathlib import Path

from saekit.common.html_report import write_report
from saekit.results.alignment import AlignDocument


def write_html(path: Path, doc: AlignDocument) -> None:
    rows = [["metric", "value"]] + [[k, f"{v:.4f}" if isinstance(v, float) else str(v)] for k, v in doc.metrics.items()]
    ts = doc.text_space
    write_report(path, "Text alignment", [
        ("Method", f"<p>{doc.method} into {ts.text_encoder or ts.model}"
                   f" from hook <code>{doc.store.hook}</code> ({ts.pooling} pooling)</p>"),
        ("Held-out image&rarr;caption retrieval", rows),
    ])
