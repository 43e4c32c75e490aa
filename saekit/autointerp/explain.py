"""`explain(config)`: explain and score latents of an SAE with a chat model, resumably.

Per latent (several in flight, `concurrency`): its evidence (top samples split into explaining and
held-out halves, plus non-activating samples), one explanation call, detection calls and, for text,
fuzzing calls. Each finished latent is appended to OUT/progress.jsonl at once. When every latent is
done OUT/names.json is written atomically: the explanations and scores, added to a `saekit name`
document when --names is given. A failure that retries cannot fix stops the run with one line;
what was finished stays in progress.jsonl for --resume."""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saekit.atomic import write_json_atomic
from saekit.autointerp.cache import ResponseCache
from saekit.autointerp.chat import ChatClient, ChatRequest, ClientError
from saekit.autointerp.config import ExplainConfig
from saekit.autointerp.evidence import EvidenceBuilder, LatentEvidence, summaries_top_k
from saekit.autointerp.judging import detection, fuzzing
from saekit.autointerp.output import write_names
from saekit.autointerp.progress_log import ProgressLog
from saekit.autointerp.prompts import explain_messages, parse_explanation
from saekit.autointerp.runner import CallRunner, TokenCount
from saekit.errors import SaekitError

if TYPE_CHECKING:
    from saekit.data import Dataset
    from saekit.results.summaries import LatentSummaries
    from stores import ActivationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainResult:
    out: Path
    latents: dict[int, dict[str, Any]]  # latent -> record (explanation, detection, fuzzing)
    tokens: TokenCount
    n_resumed: int
    seconds: float


def _renderer(cfg: ExplainConfig, store: ActivationStore, client: ChatClient, tokenizer: Any, dataset: Dataset | None):
    from saekit.autointerp.render import ImageRenderer, TextRenderer
    from saekit.results.store_meta import StoreMetadata

    modality = StoreMetadata.from_store(store).sample_modality
    if modality == "image":
        if cfg.client_modality == "text" or not client.accepts_images:
            raise SaekitError(f"the store holds images but --client {cfg.client} takes text only; use a "
                              "vision-language model (an openai:MODEL endpoint that accepts images)")
        return ImageRenderer(store, dataset, px=cfg.image_px)
    if cfg.client_modality == "image":
        raise SaekitError(f"the store holds text but --client-modality image asks for an image model; "
                          "use --client-modality text or auto")
    return TextRenderer(store, tokenizer, context_tokens=cfg.context_tokens)


def _pick_latents(cfg: ExplainConfig, summ: LatentSummaries) -> list[int]:
    if cfg.latents:
        bad = [i for i in cfg.latents if i >= summ.d_sae]
        if bad:
            raise SaekitError(f"--latents {bad} out of range: the SAE has {summ.d_sae} latents")
        dead = [i for i in cfg.latents if not summ.live[i]]
        if dead:
            log.warning("latents %s never fire in this store: skipped", dead)
        return [int(i) for i in dict.fromkeys(cfg.latents) if summ.live[i]]
    live = np.nonzero(summ.live)[0]
    order = live[np.argsort(-summ.sample_freq[live], kind="stable")]
    return [int(i) for i in order[: cfg.max_latents]]


def _check_run(cfg: ExplainConfig, out: Path, fingerprint: dict[str, Any]) -> None:
    """OUT/run.json records what a run judges with; a new run refuses an old OUT, --resume a different one."""
    run = out / "run.json"
    if run.is_file():
        old = json.loads(run.read_text())
        if not cfg.resume:
            raise SaekitError(f"{out} already holds an explain run; pass --resume to continue it or choose a new --out")
        if old.get("fingerprint") != fingerprint:
            changed = sorted(k for k in set(old.get("fingerprint", {})) | set(fingerprint)
                             if old.get("fingerprint", {}).get(k) != fingerprint.get(k))
            raise SaekitError(f"--resume: {out} was run with different settings ({', '.join(changed)}); "
                              "use the same ones or a new --out")
    write_json_atomic(run, {"fingerprint": fingerprint, "config": cfg.public()}, indent=2)


def explain_latent(ev: LatentEvidence, renderer: Any, runner: CallRunner, cfg: ExplainConfig) -> dict[str, Any]:
    """Explanation + scores of one latent (the record appended to progress.jsonl)."""
    shown = [renderer.explain_view(ex, ev.max_act) for ex in ev.explain]
    explanation = runner.ask(ChatRequest(explain_messages(shown, renderer.modality), max_tokens=cfg.max_tokens),
                             parse_explanation)
    rec: dict[str, Any] = {"latent": ev.latent, "explanation": explanation,
                           "explained_on": [ex.sample_id for ex in ev.explain]}
    rec["detection"] = detection(explanation, ev, renderer, runner.ask, cfg.seed, cfg.score_batch, cfg.max_tokens)
    if cfg.fuzzing and renderer.modality == "text":
        rec["fuzzing"] = fuzzing(explanation, ev, renderer, runner.ask, cfg.seed, cfg.score_batch, cfg.max_tokens)
    return rec


def explain(cfg: ExplainConfig, *, client: ChatClient | None = None, tokenizer: Any = None,
            dataset: Dataset | None = None) -> ExplainResult:
    """Explain and score latents (see the module docstring). `client`, `tokenizer` and `dataset`
    override what the config and the store would load (tests, notebooks)."""
    from tqdm.auto import tqdm

    from saekit.analysis import summaries as S
    from saekit.sae import SAE
    from stores import ActivationStore

    from saekit.device import resolve_device

    t0 = time.time()
    out = Path(cfg.out)
    device = str(resolve_device(cfg.device))
    sae = SAE.load(cfg.sae, device=device)
    store = ActivationStore.open(cfg.store)
    hook = S.resolve_hook(sae, store, cfg.hook)
    summ = S.load_or_compute(sae, cfg.sae, store, hook, top_k=summaries_top_k(cfg.n_explain, cfg.n_positive),
                             progress=cfg.progress)
    latents = _pick_latents(cfg, summ)
    if client is None:
        from saekit.autointerp.clients import make_client
        from saekit.results.store_meta import StoreMetadata

        client = make_client(cfg, StoreMetadata.from_store(store).sample_modality)
    if dataset is None and cfg.data:
        from saekit.data import load_dataset

        dataset = load_dataset(cfg.data)
    renderer = _renderer(cfg, store, client, tokenizer, dataset)
    fingerprint = {"sae": summ.sae_fingerprint, "store": summ.store_fingerprint, **cfg.judged_params()}
    _check_run(cfg, out, fingerprint)
    plog = ProgressLog(out / "progress.jsonl")
    done = plog.load()
    todo = [i for i in latents if i not in done]
    log.info("%d latents to explain (%d already done)", len(todo), len(done))
    runner = CallRunner(client, ResponseCache(cfg.cache_dir or out / "cache"), concurrency=cfg.concurrency,
                        max_retries=cfg.max_retries, malformed_retries=cfg.malformed_retries)
    builder = EvidenceBuilder(sae, store, hook, summ, cfg.n_explain, cfg.n_positive, cfg.n_negative, cfg.seed)
    stop = threading.Event()
    bar = tqdm(total=len(latents), initial=len(latents) - len(todo), desc="explain", unit="latent",
               disable=not cfg.progress)

    def work(latent: int) -> None:
        if stop.is_set():
            return
        try:
            rec = explain_latent(builder.build(latent), renderer, runner, cfg)
        except BaseException:
            stop.set()  # start no further latent
            raise
        plog.append(rec)
        done[latent] = rec
        bar.update(1)
        bar.set_postfix(tokens=runner.count.prompt_tokens + runner.count.completion_tokens, refresh=False)

    with ThreadPoolExecutor(max_workers=max(1, min(cfg.concurrency, client.max_concurrency))) as pool:
        futures = [pool.submit(work, i) for i in todo]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C: finish what is in flight, start nothing new
            stop.set()
            for f in futures:
                f.cancel()
            raise
        failed = next((f for f in futures if f.done() and not f.cancelled() and f.exception() is not None), None)
        if failed is not None:
            stop.set()
            for f in futures:
                f.cancel()
    bar.close()
    if failed is not None:
        exc = failed.exception()
        kept = f"{len(done)} of {len(latents)} latents are explained and kept in {out}/progress.jsonl; " \
               "re-run with --resume to continue"
        if isinstance(exc, (ClientError, SaekitError)):
            raise SaekitError(f"{exc} ({kept})") from None
        raise exc
    records = {i: done[i] for i in latents}
    write_names(out, records, cfg, summ, store, client.name, runner.count)
    return ExplainResult(out=out, latents=records, tokens=runner.count, n_resumed=len(latents) - len(todo),
                         seconds=time.time() - t0)
