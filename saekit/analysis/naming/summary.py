"""What `saekit name` prints after the run, from its names.json document."""
from __future__ import annotations

from saekit.analysis.naming.config import NameConfig
from saekit.results.names import NamesDocument


def summarize(doc: NamesDocument, cfg: NameConfig) -> None:
    """The run's notes, how many latents were named and the five best names, and where they were written."""
    for note in doc.notes:
        print(f"note: {note}")
    best = sorted(doc.latents, key=lambda l: -l.score)[:5]
    print(f"named {doc.n_named} of {doc.n_live} live latents ({doc.method}); best: "
          + ", ".join(f"#{l.latent} {l.name} ({l.score:.2f})" for l in best))
    print(f"wrote {cfg.out}/names.json and {cfg.out}/index.html")
