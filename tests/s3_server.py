"""A real S3 API on 127.0.0.1 for the tests (moto's server mode), and a TCP proxy in front of it that
cuts connections, both started and stopped by pytest fixtures."""
from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

ACCESS_KEY, SECRET_KEY = "saekit-test-key", "saekit-test-secret-DO-NOT-PRINT"


@dataclass
class S3Server:
    endpoint: str

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The AWS environment a client of this server needs (as boto3 and the AWS CLI read it)."""
        return {"AWS_ENDPOINT_URL": endpoint or self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}

    def make_bucket(self, name: str) -> None:
        req = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        urllib.request.urlopen(req).close()

    def require_auth(self, on: bool = True) -> None:
        """From now on the server checks credentials (moto accepts any key until told otherwise)."""
        self._post("reset-auth", b"0" if on else b"inf")

    def reset(self) -> None:
        """Forget every bucket (moto keeps its state per process, not per server)."""
        self._post("reset", b"")

    def _post(self, action: str, body: bytes) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/{action}", data=body, method="POST",
                                                      headers={"Content-Type": "text/plain"})).close()


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[S3Server]:
    """A fresh moto S3 server with bucket ``saekit``; the AWS environment points at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    srv = S3Server(f"http://{host}:{port}")
    for k, v in srv.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SAEKIT_CACHE_DIR", str(tmp_path / "s3cache"))
    srv.reset()
    srv.make_bucket("saekit")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep an earlier test's endpoint
    try:
        yield srv
    finally:
        srv.require_auth(False)
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


class CuttingProxy:
    """Forwards 127.0.0.1:port to a target; every ``every``-th connection it closes after ``cut_after``
    response bytes (a server dropping connections mid-read), or with ``requests`` after that many request
    bytes (an upload cut short). cuts counts the connections it cut."""

    def __init__(self, target: str, cut_after: int | None, every: int = 1, requests: bool = False) -> None:
        self.requests = requests
        self.every, self.n_connections = every, 0
        host, port = target.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.cut_after = cut_after
        self.cuts = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.n_connections += 1
            limit = self.cut_after if self.n_connections % self.every == 0 else None
            threading.Thread(target=self._pump, args=(client, upstream, limit if self.requests else None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None if self.requests else limit), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: max(0, limit - sent)])
                    self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
