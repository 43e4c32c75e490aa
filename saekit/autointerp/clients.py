"""`--client` specs: openai:MODEL (endpoint and key from flags or the environment) and local:SPEC."""
from __future__ import annotations

import contextlib
import functools
import os
from typing import Iterator

from saekit.autointerp.chat import ChatClient
from saekit.autointerp.config import ExplainConfig
from saekit.common.errors import SaekitError

ENDPOINT_ENV = ("SAEKIT_ENDPOINT", "OPENAI_BASE_URL")
KEY_ENV = ("SAEKIT_API_KEY", "OPENAI_API_KEY")


def _env(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def make_client(cfg: ExplainConfig, store_modality: str = "text") -> ChatClient:
    """The client of `cfg.client`; a text-only local model is refused for image stores before it loads."""
    kind, _, rest = cfg.client.partition(":")
    if kind == "openai" and rest:
        from saekit.autointerp.openai_client import OpenAIChatClient

        endpoint = cfg.endpoint or _env(ENDPOINT_ENV)
        key = cfg.api_key or _env(KEY_ENV)
        if endpoint is None and key is None:
            raise SaekitError("--client openai:MODEL needs --endpoint (or $SAEKIT_ENDPOINT / $OPENAI_BASE_URL) "
                              "or an API key for the default OpenAI endpoint")
        return OpenAIChatClient(rest, endpoint, key, timeout_s=cfg.timeout_s,
                                accepts_images=cfg.client_modality != "text", max_concurrency=cfg.concurrency)
    if kind == "local" and rest:
        from saekit.autointerp.local_client import LocalChatClient

        if cfg.client_modality == "image" or store_modality == "image":
            raise SaekitError(f"--client {cfg.client} is a text-only local model but the data are images; "
                              "use a vision-language model through an endpoint (openai:MODEL)")
        from saekit.common.device import resolve_device

        return LocalChatClient.load(rest, device=str(resolve_device(cfg.device)))
    raise SaekitError(f"--client {cfg.client!r} is not openai:MODEL or local:offline:smollm2-135m / local:HF_ID_OR_DIR")


@contextlib.contextmanager
def loading_bars(show: bool) -> Iterator[None]:
    """Model- and tokenizer-loading progress bars on or off: transformers' own, and the plain tqdm bar
    its GGUF reader draws while de-quantising (switched off for the duration by its module's tqdm)."""
    if show:
        yield
        return
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        gguf_utils = None
    plain = getattr(gguf_utils, "tqdm", None)
    if plain is not None:
        gguf_utils.tqdm = functools.partial(plain, disable=True)
    try:
        yield
    finally:
        if plain is not None:
            gguf_utils.tqdm = plain
        if was_enabled:
            hf_logging.enable_progress_bar()
