"""Every model call goes through a `CallRunner`: the cache first, then the client under a bounded
number of concurrent calls, with retries and exponential back-off on rate limits, 5xx, timeouts and
unreachable endpoints, fresh samples for malformed answers, and a running token count."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable, TypeVar

from saekit.autointerp.cache import ResponseCache
from saekit.autointerp.chat import ChatClient, ChatReply, ChatRequest, ClientError, MalformedAnswer

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_TEMPERATURE = 0.7


@dataclasses.dataclass
class TokenCount:
    """Calls and tokens so far (cache hits cost no tokens and are counted apart)."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    malformed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class CallRunner:
    def __init__(self, client: ChatClient, cache: ResponseCache | None = None, concurrency: int = 4,
                 max_retries: int = 4, malformed_retries: int = 2, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.cache = cache
        self.max_retries = max_retries
        self.malformed_retries = malformed_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.sleep = sleep
        self.count = TokenCount()
        self._slots = threading.BoundedSemaphore(max(1, min(concurrency, client.max_concurrency)))
        self._lock = threading.Lock()

    def _add(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                setattr(self.count, k, getattr(self.count, k) + v)

    def _call(self, request: ChatRequest) -> ChatReply:
        """One answer from the client, retrying transport failures with back-off."""
        for attempt in range(self.max_retries + 1):
            try:
                with self._slots:
                    reply = self.client.complete(request)
                self._add(calls=1, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)
                return reply
            except ClientError as exc:
                self._add(calls=1)
                if not exc.retryable or exc.kind == "malformed" and attempt >= self.malformed_retries \
                        or attempt == self.max_retries:
                    raise
                wait = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
                if exc.retry_after is not None:
                    wait = min(self.max_backoff_s, max(wait, exc.retry_after))
                log.info("%s; retrying in %.1f s (%d/%d)", exc, wait, attempt + 1, self.max_retries)
                self._add(retries=1)
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _attempt(self, request: ChatRequest, attempt: int) -> ChatRequest:
        """Attempt 0 is the request; a retry of an unusable answer asks for a fresh sample (another
        seed, and some temperature)."""
        if attempt == 0:
            return request
        return dataclasses.replace(request, attempt=attempt,
                                   temperature=max(request.temperature, RETRY_TEMPERATURE))

    def _cached(self, request: ChatRequest, parse: Callable[[ChatReply], T]) -> tuple[bool, T | None]:
        """A usable cached answer of any attempt (so a re-run after retried answers is free too)."""
        if self.cache is None:
            return False, None
        for attempt in range(self.malformed_retries + 1):
            hit = self.cache.get(self._attempt(request, attempt).cache_key(self.client.name))
            if hit is not None:
                try:
                    value = parse(hit)
                except MalformedAnswer:
                    continue
                self._add(cache_hits=1)
                return True, value
        return False, None

    def ask(self, request: ChatRequest, parse: Callable[[ChatReply], T]) -> T:
        """The parsed answer (`parse` of the reply) to `request`: cached, or asked (again with a fresh
        sample while the answer is malformed, up to `malformed_retries` times). Raises ClientError."""
        found, value = self._cached(request, parse)
        if found:
            return value
        problem = ""
        for attempt in range(self.malformed_retries + 1):
            req = self._attempt(request, attempt)
            reply = self._call(req)
            try:
                value = parse(reply)
            except MalformedAnswer as exc:
                problem = str(exc)
                self._add(malformed=1)
                log.info("%s gave an unusable answer (%s); asking again", self.client.name, problem)
                continue
            if self.cache is not None:
                self.cache.put(req.cache_key(self.client.name), reply)
            return value
        raise ClientError("malformed", f"{self.client.name} gave no usable answer in "
                                       f"{self.malformed_retries + 1} tries (last: {problem})")
