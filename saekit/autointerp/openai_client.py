"""Any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp's server, Ollama, hosted APIs)
through the official `openai` package. The package's own retries are off: `runner.CallRunner`
retries with back-off, so every attempt is counted and the errors are mapped to `ClientError`."""
from __future__ import annotations

import logging

from saekit.autointerp.chat import ChatReply, ChatRequest, ClientError, TOP_LOGPROBS, TokenLogprob, text_of
from saekit.common.errors import SaekitError

log = logging.getLogger(__name__)

_IMAGE_WORDS = ("image", "multimodal", "multi-modal", "vision")


class OpenAIChatClient:
    """Chat completions at `endpoint` (a base URL such as http://127.0.0.1:8000/v1) with `model`."""

    def __init__(self, model: str, endpoint: str | None, api_key: str | None, timeout_s: float = 60.0,
                 accepts_images: bool = True, max_concurrency: int = 8):
        try:
            import openai
        except ImportError as exc:
            raise SaekitError("the openai client needs the `openai` package: pip install 'saekit[autointerp]'") from exc
        self._openai = openai
        self.name = f"openai:{model}"
        self.model = model
        self.accepts_images = accepts_images
        self.max_concurrency = max_concurrency
        self._key = api_key or ""
        self._no_logprobs = False  # set when the endpoint turned log-probabilities down
        # local servers accept any key; the package insists on a non-empty one
        self._client = openai.OpenAI(base_url=endpoint, api_key=api_key or "no-key", timeout=timeout_s,
                                     max_retries=0)
        self.endpoint = str(self._client.base_url)

    def _clean(self, text: str) -> str:
        """One line with the key (if any) masked: server messages sometimes echo it."""
        line = " ".join(str(text).split())
        if self._key:
            line = line.replace(self._key, "***")
        return line[:300]

    def complete(self, request: ChatRequest) -> ChatReply:
        """One call. An endpoint that rejects log-probabilities (a 4xx naming them) is asked again without
        them, and from then on never asked for them: its scores carry no AUC."""
        try:
            return self._complete(request, request.logprobs and not self._no_logprobs)
        except ClientError as exc:
            if exc.kind != "bad_request" or not request.logprobs or "logprob" not in exc.message.lower():
                raise
            log.warning("%s rejects log-probabilities (%s); asking without them, so there is no AUC", self.endpoint,
                        exc.message)
            self._no_logprobs = True
            return self._complete(request, False)

    def _complete(self, request: ChatRequest, logprobs: bool) -> ChatReply:
        o = self._openai
        where = f"{self.endpoint} ({self.model})"
        try:
            extra = {"logprobs": True, "top_logprobs": TOP_LOGPROBS} if logprobs else {}
            resp = self._client.chat.completions.create(
                model=self.model, messages=list(request.messages), max_tokens=request.max_tokens,
                temperature=request.temperature, seed=request.attempt, **extra)
        except o.APITimeoutError:
            raise ClientError("timeout", f"{where} did not answer in time") from None
        except o.APIConnectionError as exc:
            raise ClientError("unreachable", f"cannot reach {where}: {self._clean(exc.__cause__ or exc)}") from None
        except (o.AuthenticationError, o.PermissionDeniedError) as exc:
            raise ClientError("auth", f"{where} refused the API key (HTTP {exc.status_code}); "
                                      "set --api-key or SAEKIT_API_KEY / OPENAI_API_KEY") from None
        except o.RateLimitError as exc:
            raise ClientError("rate_limit", f"{where} is rate-limiting (HTTP 429)",
                              retry_after=_retry_after(exc)) from None
        except o.APIStatusError as exc:
            msg = self._clean(_error_message(exc))
            if exc.status_code >= 500:
                raise ClientError("server", f"{where} failed with HTTP {exc.status_code}: {msg}",
                                  retry_after=_retry_after(exc)) from None
            if request.has_images and any(w in msg.lower() for w in _IMAGE_WORDS):
                raise ClientError("unsupported_input", f"{where} does not accept images ({msg}); use a "
                                                       "vision-language model for image stores") from None
            raise ClientError("bad_request", f"{where} rejected the request with HTTP {exc.status_code}: {msg}") from None
        except o.APIResponseValidationError as exc:
            raise ClientError("malformed", f"{where} sent a response that is not a chat completion: "
                                           f"{self._clean(exc)}") from None
        choices = getattr(resp, "choices", None) or []
        if not choices:
            raise ClientError("malformed", f"{where} sent a response that is not a chat completion (no choices)")
        text = (choices[0].message.content if choices[0].message is not None else None) or ""
        usage = getattr(resp, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0) or len(text_of(request.messages)) // 4
        completion = int(getattr(usage, "completion_tokens", 0) or 0) or len(text) // 4
        return ChatReply(text=text, prompt_tokens=prompt, completion_tokens=completion,
                         logprobs=_logprobs(choices[0]) if logprobs else None)


def _logprobs(choice) -> tuple[TokenLogprob, ...] | None:
    """The answer's token log-probabilities, when the endpoint sent them."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    try:
        return tuple(TokenLogprob(str(t.token), float(t.logprob),
                                  tuple((str(a.token), float(a.logprob)) for a in (t.top_logprobs or ())))
                     for t in content)
    except (AttributeError, TypeError, ValueError):
        return None


def _retry_after(exc) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def _error_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", exc))
