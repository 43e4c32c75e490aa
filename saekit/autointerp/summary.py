"""What `saekit explain` prints after a run, from its run document."""
from __future__ import annotations

from saekit.autointerp.config import ExplainConfig
from saekit.results.explain_run import ExplainRunDocument


def summarize(run: ExplainRunDocument, cfg: ExplainConfig) -> None:
    result = run.outcome
    if result is None:
        print(f"{cfg.out}: the explain run did not finish (re-run with --resume)")
        return
    t = result.tokens
    dense = [s for s in result.skipped if s.reason == "dense"]
    if dense:
        print(f"{len(dense)} dense latents (firing in more than {cfg.dense_fraction:.0%} of windows) not explained: "
              + ", ".join(f"#{s.latent} ({s.window_freq:.0%})" for s in dense[:10]) + (" ..." if len(dense) > 10 else ""))
    for s in result.skipped:
        if s.reason != "dense":
            print(f"latent {s.latent} not explained: {s.reason} ({s.n_windows} of {result.n_windows} windows)")
    if result.dry_run:
        images = f", {result.images} images" if result.images else ""
        print(f"dry run: {len(result.latents)} latents of {result.n_windows} windows would cost {t.calls} calls, "
              f"about {t.prompt_tokens} prompt tokens{images} and at most {t.completion_tokens} completion tokens; "
              f"nothing was asked and nothing written to {result.out}")
        return
    scores = result.detection_scores()
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
    print(f"explained {len(result.latents)} latents ({result.n_resumed} resumed) in {result.seconds:.1f} s; "
          f"{len(scores)} with a detection score, mean balanced accuracy {mean}; {t.calls} calls, "
          f"{t.cache_hits} cached, {t.prompt_tokens} prompt + {t.completion_tokens} completion tokens")
    print(f"wrote {result.out}/names.json")
