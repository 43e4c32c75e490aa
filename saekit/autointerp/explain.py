"""`explain(config)`: explain and score latents of an SAE with a chat model, resumably.

The store is cut into windows (windows.py); latents are chosen by their window frequency
(selection.py; dense and too-rare ones are reported, not explained). Per latent (several in flight,
`concurrency`): its evidence (explaining and held-out windows across activation quantiles, plus
non-activating windows), one explanation call, then detection and, for text, fuzzing calls. Each
finished latent is appended to OUT/progress.jsonl at once. When every latent is done
OUT/names.json is written atomically: the explanations and scores, added to a `saekit name`
document when --names is given. A failure that retries cannot fix stops the run with one line;
what was finished stays in progress.jsonl for --resume. `dry_run` goes through the same steps with
a client that only counts, and writes nothing to OUT (the latent summaries, cached next to the
SAE as for every run, are the one thing it may leave behind)."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from saekit.autointerp.cache import ResponseCache
from saekit.autointerp.chat import ChatClient, ChatRequest, ClientError
from saekit.autointerp.clients import loading_bars, make_client
from saekit.autointerp.config import ExplainConfig
from saekit.autointerp.dryrun import DryRunClient
from saekit.autointerp.evidence import EvidenceBuilder, LatentEvidence
from saekit.autointerp.judging import score
from saekit.autointerp.output import write_names
from saekit.autointerp.progress_log import ProgressLog
from saekit.autointerp.prompts import explain_messages, parse_explanation
from saekit.autointerp.render import Renderer
from saekit.autointerp.runner import CallRunner
from saekit.autointerp.selection import choose_latents
from saekit.autointerp.windows import collect_windows, scan_windows
from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.inputs import Inputs
from saekit.results.explain_run import ExplainedLatent, ExplainOutcome, ExplainRunDocument, TokenCounts
from saekit.results.names import Explanation, Judgement

if TYPE_CHECKING:
    from saekit.autointerp.tokenizer import Tokenizer
    from saekit.data import Dataset
    from stores import ActivationStore
    from tqdm import tqdm

log = logging.getLogger(__name__)


def _renderer(cfg: ExplainConfig, modality: str, store: ActivationStore, client: ChatClient,
              tokenizer: Tokenizer | None, dataset: Callable[[], Dataset]) -> Renderer:
    from saekit.autointerp.render import ImageRenderer, TextRenderer

    if modality == "image":
        if cfg.client_modality == "text" or not client.accepts_images:
            raise SaekitError(f"the store holds images but --client {cfg.client} takes text only; use a "
                              "vision-language model (an openai:MODEL endpoint that accepts images)")
        return ImageRenderer(store, dataset(), px=cfg.image_px)
    if cfg.client_modality == "image":
        raise SaekitError(f"the store holds text but --client-modality image asks for an image model; "
                          "use --client-modality text or auto")
    return TextRenderer(store, tokenizer)


def _check_run(cfg: ExplainConfig, out: Path, run: ExplainRunDocument) -> None:
    """OUT/run.json records what a run judges with; a new run refuses an old OUT, --resume a different one."""
    if ExplainRunDocument.path_in(out).is_file():
        old = ExplainRunDocument.load(out)
        if not cfg.resume:
            raise SaekitError(f"{out} already holds an explain run; pass --resume to continue it or choose a new --out")
        changed = old.changed_settings(run.fingerprint)
        if changed:
            raise SaekitError(f"--resume: {out} was run with different settings ({', '.join(changed)}); "
                              "use the same ones or a new --out")
    run.save(out)


def explain_latent(ev: LatentEvidence, renderer: Renderer, runner: CallRunner, cfg: ExplainConfig) -> ExplainedLatent:
    """Explanation + scores of one latent (the record appended to progress.jsonl)."""
    shown = [renderer.explain_view(ex, ev.max_act) for ex in ev.explain]
    text = runner.ask(ChatRequest(explain_messages(shown, renderer.modality), max_tokens=cfg.max_tokens),
                      lambda reply: parse_explanation(reply.text))

    def judge(kind: str) -> Judgement:
        return score(kind, text, ev, renderer, runner.ask, cfg.seed, cfg.score_batch, cfg.max_tokens, cfg.logprobs)

    text_only = renderer.modality == "text"  # the scores run in this order: detection, fuzzing, fuzzing_active
    explanation = Explanation(
        text=text, client=runner.client.name, explained_on=tuple(int(ex.sample_id) for ex in ev.explain),
        window_freq=float(ev.window_freq), detection=judge("detection"),
        fuzzing=judge("fuzzing") if text_only and cfg.fuzzing else None,
        fuzzing_active=judge("fuzzing_active") if text_only and cfg.fuzzing_active else None)
    return ExplainedLatent(latent=int(ev.latent), explanation=explanation)


def _run_all(todo: list[int], build: Callable[[int], LatentEvidence], renderer: Renderer, runner: CallRunner,
             cfg: ExplainConfig, plog: ProgressLog | None, done: dict[int, ExplainedLatent], workers: int,
             bar: tqdm) -> BaseException | None:
    """Explain `todo` on `workers` threads; the first failure stops new latents and is returned."""
    stop = threading.Event()

    def work(latent: int) -> None:
        if stop.is_set():
            return
        try:
            rec = explain_latent(build(latent), renderer, runner, cfg)
        except BaseException:
            stop.set()  # start no further latent
            raise
        if plog is not None:
            plog.append(rec)
        done[latent] = rec
        bar.update(1)
        bar.set_postfix(tokens=runner.count.prompt_tokens + runner.count.completion_tokens, refresh=False)

    with ThreadPoolExecutor(max_workers=workers) as pool:
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
    return failed.exception() if failed is not None else None


def explain(cfg: ExplainConfig, *, client: ChatClient | None = None, tokenizer: Tokenizer | None = None,
            dataset: Dataset | None = None, inputs: Inputs | None = None) -> ExplainRunDocument:
    """Explain and score latents (see the module docstring); the run document (OUT/run.json) with its
    outcome. `client`, `tokenizer` and `dataset` override what the config and the store would load
    (tests, notebooks); `inputs` gives the SAE, store and dataset already open (default: from cfg)."""
    from saekit.common.device import resolve_device

    own = inputs is None
    inputs = inputs or Inputs(sae=cfg.sae, store=cfg.store, hook=cfg.hook, data=cfg.data,
                              device=str(resolve_device(cfg.device)))
    try:
        return _explain(cfg, inputs, client, tokenizer, dataset)
    finally:
        if own:
            inputs.close()


def _explain(cfg: ExplainConfig, inputs: Inputs, client: ChatClient | None, tokenizer: Tokenizer | None,
             dataset: Dataset | None) -> ExplainRunDocument:
    from tqdm.auto import tqdm

    from saekit.analysis.summaries.reuse import load_or_compute
    from saekit.results.store_meta import StoreMetadata

    t0 = time.time()
    out = Path(cfg.out)
    sae, store, hook = inputs.sae, inputs.store, inputs.hook  # a crosscoder's hooks side by side
    modality = StoreMetadata.from_store(store).sample_modality
    summ = load_or_compute(sae, cfg.sae, store, hook, progress=cfg.progress)
    table = scan_windows(sae, store, hook, None if modality == "image" else cfg.context_tokens, cfg.progress)
    choice = choose_latents(table, cfg.latents, cfg.choose, cfg.max_latents, cfg.dense_fraction, cfg.min_windows,
                            cfg.seed)
    latents = list(choice.latents)
    with loading_bars(cfg.progress):
        if cfg.dry_run:
            client = DryRunClient(cfg.client, accepts_images=cfg.client_modality != "text"
                                  and not cfg.client.startswith("local:"))
        elif client is None:
            client = make_client(cfg, modality)
        renderer = _renderer(cfg, modality, store, client, tokenizer,
                             lambda: dataset if dataset is not None or not cfg.data else inputs.dataset)
    fingerprint: JSONObject = {"sae": summ.sae_fingerprint, "store": summ.store_fingerprint, **cfg.judged_params()}
    run = ExplainRunDocument.of({"fingerprint": fingerprint, "config": cfg.public()})
    plog = None
    done: dict[int, ExplainedLatent] = {}
    if not cfg.dry_run:
        _check_run(cfg, out, run)
        plog = ProgressLog(out / "progress.jsonl")
        done = {k: v for k, v in plog.load(client.name).items() if k in set(latents)}
    todo = [i for i in latents if i not in done]
    log.info("%d latents to explain (%d already done, %d skipped)", len(todo), len(done), len(choice.skipped))
    cache = None if cfg.dry_run else ResponseCache(cfg.cache_dir or out / "cache")
    runner = CallRunner(client, cache, concurrency=cfg.concurrency, max_retries=cfg.max_retries,
                        malformed_retries=cfg.malformed_retries)
    builder = EvidenceBuilder(table, collect_windows(sae, store, hook, table.ctx, todo, cfg.progress), cfg.sizes,
                              cfg.seed, cfg.negatives, store, hook)
    bar = tqdm(total=len(latents), initial=len(latents) - len(todo), desc="explain", unit="latent",
               disable=not cfg.progress)
    failure = _run_all(todo, builder.build, renderer, runner, cfg, plog, done,
                       max(1, min(cfg.concurrency, client.max_concurrency)), bar)
    bar.close()
    if failure is not None:
        kept = f"{len(done)} of {len(latents)} latents are explained and kept in {out}/progress.jsonl; " \
               "re-run with --resume to continue"
        if isinstance(failure, (ClientError, SaekitError)):
            raise SaekitError(f"{failure} ({kept})") from None
        raise failure
    if not cfg.dry_run:
        write_names(out, {i: done[i].explanation for i in latents}, cfg, summ, store, sae, client.name, runner.count,
                    choice.skipped, table.n_windows)
    outcome = ExplainOutcome(
        out=str(out), client=client.name, tokens=TokenCounts(**runner.count.as_dict()),
        latents=tuple(done[i] for i in latents),
        n_resumed=len(latents) - len(todo), seconds=time.time() - t0, n_windows=table.n_windows,
        skipped=choice.skipped,
        dry_run=cfg.dry_run, images=client.images if isinstance(client, DryRunClient) else 0)
    run = dataclasses.replace(run, outcome=outcome)
    if not cfg.dry_run:
        run.save(out)
    return run
