"""`--dry-run`: the whole run with a client that answers without a model and counts what would be
sent: calls, prompt tokens (about 4 characters a token, the estimate the runner uses when an
endpoint reports no usage; images apart) and, as an upper bound, the completion tokens allowed.
Its answers ("Explanation: (dry run)", all-zero verdict lists) only keep the pipeline going."""
from __future__ import annotations

import re
import threading

from saekit.autointerp.chat import ChatReply, ChatRequest, text_of

_EXAMPLE = re.compile(r"^Example \d+\b", re.MULTILINE)
CHARS_PER_TOKEN = 4


class DryRunClient:
    max_concurrency = 1

    def __init__(self, name: str, accepts_images: bool = True):
        self.name = name
        self.accepts_images = accepts_images
        self.images = 0
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatReply:
        text = text_of(request.messages)
        n_images = sum(1 for m in request.messages if isinstance(m.get("content"), list)
                       for p in m["content"] if p.get("type") == "image_url")
        with self._lock:
            self.images += n_images
        if "Activating examples:" in text:
            answer = "Explanation: (dry run)"
        else:
            answer = "[" + ", ".join("0" for _ in _EXAMPLE.finditer(text)) + "]"
        return ChatReply(answer, prompt_tokens=max(1, len(text) // CHARS_PER_TOKEN),
                         completion_tokens=request.max_tokens)
