"""The call runner: bounded concurrency, back-off that honours Retry-After, no retry of auth errors,
fresh samples (temperature > 0) for unusable answers, cache hits that cost no call, token counts."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from saekit.autointerp.cache import ResponseCache
from saekit.autointerp.chat import ChatReply, ChatRequest, ClientError
from saekit.autointerp.prompts import parse_explanation as _parse_text
from saekit.autointerp.runner import CallRunner


class Scripted:
    """Answers from a list of replies or errors, one per call; records requests and peak concurrency."""

    name = "scripted"
    accepts_images = False

    def __init__(self, script, max_concurrency=8, delay=0.0):
        self.script = list(script)
        self.max_concurrency = max_concurrency
        self.delay = delay
        self.requests = []
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()

    def complete(self, request):
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            item = self.script.pop(0) if self.script else "Explanation: ok"
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        if isinstance(item, Exception):
            raise item
        return ChatReply(item, 100, 5)


def parse_explanation(reply):
    return _parse_text(reply.text)


def _req(i=0):
    return ChatRequest(({"role": "user", "content": f"prompt {i}"},))


def test_concurrency_is_bounded():
    client = Scripted([], delay=0.05)
    runner = CallRunner(client, concurrency=3)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: runner.ask(_req(i), parse_explanation), range(24)))
    assert client.peak == 3 and runner.count.calls == 24
    local = Scripted([], max_concurrency=1, delay=0.01)  # a client that takes one call at a time
    r1 = CallRunner(local, concurrency=4)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: r1.ask(_req(i), parse_explanation), range(8)))
    assert local.peak == 1


def test_backoff_honours_retry_after_and_auth_is_not_retried():
    waits = []
    client = Scripted([ClientError("rate_limit", "429", retry_after=5.0), ClientError("server", "503"),
                       ClientError("timeout", "slow"), "Explanation: fine"])
    runner = CallRunner(client, max_retries=3, backoff_s=0.5, sleep=waits.append)
    assert runner.ask(_req(), parse_explanation) == "fine"
    assert waits == [5.0, 1.0, 2.0] and runner.count.retries == 3 and runner.count.calls == 4
    with pytest.raises(ClientError, match="503"):
        CallRunner(Scripted([ClientError("server", "503")] * 3), max_retries=2, sleep=waits.append).ask(
            _req(), parse_explanation)
    auth = Scripted([ClientError("auth", "bad key"), "Explanation: never"])
    with pytest.raises(ClientError, match="bad key"):
        CallRunner(auth, max_retries=5, sleep=waits.append).ask(_req(), parse_explanation)
    assert len(auth.requests) == 1


def test_unusable_answers_are_asked_again_with_temperature_and_only_good_ones_cached(tmp_path):
    cache = ResponseCache(tmp_path / "cache")
    client = Scripted(["", "   ", "Explanation: third time"])
    runner = CallRunner(client, cache=cache, malformed_retries=2)
    assert runner.ask(_req(), parse_explanation) == "third time"
    assert [r.attempt for r in client.requests] == [0, 1, 2]
    assert client.requests[0].temperature == 0 and all(r.temperature >= 0.7 for r in client.requests[1:])
    assert runner.count.malformed == 2 and runner.count.prompt_tokens == 300
    again = Scripted([])
    r2 = CallRunner(again, cache=cache)
    assert r2.ask(_req(), parse_explanation) == "third time"  # the retried answer, from the cache
    assert again.requests == [] and r2.count.cache_hits == 1 and r2.count.calls == 0
    with pytest.raises(ClientError, match="no usable answer"):
        CallRunner(Scripted(["", "", ""]), malformed_retries=2).ask(_req(), parse_explanation)


def test_logprobs_travel_through_the_cache(tmp_path):
    from saekit.autointerp.chat import TokenLogprob

    lps = (TokenLogprob("1", -0.1, (("1", -0.1), ("0", -2.4))),)

    class WithLogprobs(Scripted):
        def complete(self, request):
            reply = super().complete(request)
            return ChatReply(reply.text, 10, 1, logprobs=lps)

    cache = ResponseCache(tmp_path / "cache")
    first = CallRunner(WithLogprobs(["[1]"]), cache=cache).ask(_req(), lambda r: r.logprobs)
    again = CallRunner(Scripted([]), cache=cache)
    assert first == lps and again.ask(_req(), lambda r: r.logprobs) == lps and again.count.calls == 0
