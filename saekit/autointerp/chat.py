"""What every chat client speaks: a request (messages with text and image parts), a reply with token
usage, and the one error type whose `kind` says whether trying again can help."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from saekit.common.errors import SaekitError
from stores.fingerprint import fingerprint

# OpenAI chat-completions message form: {"role": ..., "content": str | [parts]}, a part being
# {"type": "text", "text": ...} or {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}
Message = dict

TOP_LOGPROBS = 5  # alternatives asked for per answer token, as delphi asks
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "unreachable", "malformed"})


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions call. `attempt` > 0 asks for a fresh sample (retries of malformed answers);
    `logprobs` asks for each answer token's log-probability and its top alternatives."""

    messages: tuple[Message, ...]
    max_tokens: int = 200
    temperature: float = 0.0
    attempt: int = 0
    logprobs: bool = False

    @property
    def has_images(self) -> bool:
        return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
                   for m in self.messages)

    def cache_key(self, model: str) -> str:
        """sha256 of everything that decides the answer: model, messages, sampling and attempt."""
        blob = json.dumps({"model": model, "messages": list(self.messages), "max_tokens": self.max_tokens,
                           "temperature": self.temperature, "attempt": self.attempt, "logprobs": self.logprobs},
                          sort_keys=True)
        return fingerprint(blob, length=None)


@dataclass(frozen=True)
class TokenLogprob:
    """One answer token: its text, log-probability and the top alternatives (token, logprob) at its place."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()

    def as_json(self) -> list:
        return [self.token, self.logprob, [list(t) for t in self.top]]

    @classmethod
    def from_json(cls, v: list) -> "TokenLogprob":
        return cls(str(v[0]), float(v[1]), tuple((str(t), float(lp)) for t, lp in v[2]))


@dataclass(frozen=True)
class ChatReply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False
    logprobs: tuple[TokenLogprob, ...] | None = None  # when asked for and the endpoint returned them


@dataclass(eq=False)
class ClientError(SaekitError):
    """A failed call. kind: rate_limit | server | timeout | unreachable | malformed (retryable) or
    auth | bad_request | unsupported_input (not). `message` is one line and never holds the API key."""

    kind: str
    message: str
    retry_after: float | None = field(default=None)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class ChatClient(Protocol):
    """A chat model. `name` identifies the model in cache keys (never the endpoint's key);
    `accepts_images` whether image parts may be sent."""

    name: str
    accepts_images: bool
    max_concurrency: int

    def complete(self, request: ChatRequest) -> ChatReply: ...


def text_of(messages: tuple[Message, ...] | list[Message]) -> str:
    """All text parts of the messages joined (for token estimates and text-only backends)."""
    out = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if p.get("type") == "text")
    return "\n".join(out)


class MalformedAnswer(ValueError):
    """An answer the prompt's parser cannot use (empty, wrong count, no verdict)."""
