"""A small OpenAI-compatible chat-completions server for tests (no tests here), bound to 127.0.0.1
on a free port, in a daemon thread, with bounded request sizes and socket timeouts.

`backend(request: ChatRequest) -> ChatReply` answers; `api_key` (if set) must come as a Bearer
token; `accepts_images=False` answers image parts with HTTP 400 like a text-only vLLM model; and
`faults` is a list consumed one per request: "429", "500", "malformed" (a 200 that is not JSON),
"empty" (a completion with empty content), "slow" (sleep `slow_s` first) or None (answer normally);
`fault_after` = (n, fault) applies `fault` to every request after the first n. When a request asks
for `logprobs` and the backend's reply has them, they are sent as OpenAI does (`logprobs=False`
plays a server that never returns them, `logprobs="reject"` one that answers such requests with a
400); `bodies` keeps every request body."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from saekit.autointerp.chat import ChatReply, ChatRequest

MAX_BODY = 32 << 20


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (timeout) closed the socket: nothing to report


class OpenAIServer:
    def __init__(self, backend: Callable[[ChatRequest], ChatReply], api_key: str | None = None,
                 accepts_images: bool = False, faults: list[str | None] | None = None,
                 fault_after: tuple[int, str] | None = None, slow_s: float = 3.0, model: str = "test-model",
                 logprobs: bool | str = True):
        self.backend = backend
        self.api_key = api_key
        self.accepts_images = accepts_images
        self.faults = list(faults or [])
        self.fault_after = fault_after
        self.slow_s = slow_s
        self.model = model
        self.logprobs = logprobs
        self.bodies: list[dict] = []
        self.n_requests = 0
        self.n_answered = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "OpenAIServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 30

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str, headers: dict | None = None) -> None:
                self._send(status, json.dumps({"error": {"message": message, "type": "test"}}).encode(),
                           headers=headers)

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                if n > MAX_BODY:
                    return self._error(413, "request too large")
                body = json.loads(self.rfile.read(n) or b"{}")
                with server._lock:
                    server.bodies.append(body)
                    server.n_requests += 1
                    fault = server.faults.pop(0) if server.faults else None
                    if server.fault_after is not None and server.n_requests > server.fault_after[0]:
                        fault = server.fault_after[1]
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._error(404, f"no route {self.path}")
                if server.api_key is not None and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._error(401, "Incorrect API key provided")
                if fault == "429":
                    return self._error(429, "rate limited", {"Retry-After": "0"})
                if fault == "500":
                    return self._error(500, "internal error")
                if fault == "malformed":
                    return self._send(200, b"<html>not json", "text/html")
                if fault == "slow":
                    time.sleep(server.slow_s)
                messages = tuple(body.get("messages") or ())
                req = ChatRequest(messages=messages, max_tokens=int(body.get("max_tokens") or 64),
                                  temperature=float(body.get("temperature") or 0.0), attempt=int(body.get("seed") or 0),
                                  logprobs=bool(body.get("logprobs")))
                if req.logprobs and server.logprobs == "reject":
                    return self._error(400, "logprobs is not supported by this model")
                if req.has_images and not server.accepts_images:
                    return self._error(400, f"{server.model} is not a multimodal model: image input is not supported")
                reply = ChatReply("", 0, 0) if fault == "empty" else server.backend(req)
                with server._lock:
                    server.n_answered += 1
                choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply.text}}
                if req.logprobs and reply.logprobs is not None and server.logprobs:
                    choice["logprobs"] = {"content": [
                        {"token": t.token, "logprob": t.logprob, "bytes": None,
                         "top_logprobs": [{"token": a, "logprob": lp, "bytes": None} for a, lp in t.top]}
                        for t in reply.logprobs]}
                out = {"id": f"cmpl-{server.n_requests}", "object": "chat.completion", "created": int(time.time()),
                       "model": body.get("model", server.model), "choices": [choice],
                       "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                                 "total_tokens": reply.prompt_tokens + reply.completion_tokens}}
                self._send(200, json.dumps(out).encode())

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
