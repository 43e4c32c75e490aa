"""Responses cached on disk by the hash of their request: a re-run costs no calls.

Only answers the prompt's parser accepted are stored, so a malformed answer is asked again next time.
Layout: DIR/<first 2 hex>/<sha256>.json = {"text", "prompt_tokens", "completion_tokens", "logprobs"}
(logprobs: null or a list of [token, logprob, [[alternative, logprob], ...]])."""
from __future__ import annotations

import json
import os
from pathlib import Path

from saekit.common.atomic import write_json_atomic
from saekit.autointerp.chat import ChatReply, TokenLogprob


class ResponseCache:
    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> ChatReply | None:
        path = self._path(key)
        try:
            d = json.loads(path.read_text())
            lps = d.get("logprobs")
            return ChatReply(text=str(d["text"]), prompt_tokens=int(d["prompt_tokens"]),
                             completion_tokens=int(d["completion_tokens"]), cached=True,
                             logprobs=None if lps is None else tuple(TokenLogprob.from_json(v) for v in lps))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None  # absent or torn: ask again

    def put(self, key: str, reply: ChatReply) -> None:
        path = self._path(key)
        lps = None if reply.logprobs is None else [t.as_json() for t in reply.logprobs]
        write_json_atomic(path, {"text": reply.text, "prompt_tokens": reply.prompt_tokens,
                                 "completion_tokens": reply.completion_tokens, "logprobs": lps})
