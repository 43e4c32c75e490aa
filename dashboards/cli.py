"""The `dashboard` command: ``dashboard(DashboardConfig(...))`` loads and checks the inputs (the SAE,
the store, and optionally the output directories of `saekit name`, `audit` and `artifacts`), then
serves the Dash feature browser until interrupted (with ``check``: returns without serving).

Registered in saekit.commands by name only (dashboards sits a layer above saekit), so `saekit
dashboard` has its flags generated from DashboardConfig like every other command.
"""
from __future__ import annotations

import argparse
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboards.inputs import DashboardInputs

SAE_SPEC = "SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:)"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port must be an integer, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be between 0 and 65535, got {port}")
    return port


@dataclass(frozen=True)
class DashboardConfig:
    sae: str = field(metadata={"help": SAE_SPEC, "metavar": "SAE"})
    store: str = field(metadata={"metavar": "PATH"})  # activation store (.h5 file or shard directory)
    names: str | None = field(default=None, metadata={"metavar": "DIR"})  # output directory of `saekit name` (names.json)
    audit: str | None = field(default=None, metadata={"metavar": "DIR"})  # output directory of `saekit audit` (audit.json)
    artifacts: str | None = field(default=None, metadata={"metavar": "DIR"})  # output directory of `saekit artifacts` (artifacts.json)
    model: str | None = field(default=None, metadata={"metavar": "MODEL", "help": (
        "model spec for the steering panel (e.g. random:vit, hf:<dir>, offline:dinov2-small); default: the model "
        "the store was captured from, loaded when the steering page first needs it")})
    host: str = "127.0.0.1"  # interface to bind (127.0.0.1: this machine only)
    port: int = field(default=8050, metadata={"parse": _port, "metavar": "INT",
                                              "help": "port to serve on (0 = any free port)"})
    device: str = "cpu"  # device for summaries and steering: auto, cpu, cuda[:N]
    allow_mismatch: bool = False  # start even when --names/--audit/--artifacts do not match the SAE or store; the mismatch is shown in the page and that input is left out
    check: bool = False  # load and check the inputs (computing missing summaries), print what would be served, and exit without serving


def _free_port(host: str, port: int) -> int:
    """The port to serve on: `port` when it can be bound (0 picks a free one)."""
    from saekit.common.errors import SaekitError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SaekitError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port or --host") from None
        return int(s.getsockname()[1])


def dashboard(cfg: DashboardConfig) -> DashboardInputs:
    """Load and check the inputs, say what is served, and serve them (not with ``cfg.check``)."""
    import logging

    from dashboards.app import create_app
    from dashboards.inputs import load_inputs
    from saekit.common.device import resolve_device

    device = str(resolve_device(cfg.device))
    port = _free_port(cfg.host, cfg.port)
    inputs = load_inputs(cfg.sae, cfg.store, names_dir=cfg.names, audit_dir=cfg.audit,
                         artifacts_dir=cfg.artifacts, model=cfg.model, strict=not cfg.allow_mismatch,
                         progress=True, device=device)
    for problem in inputs.problems:
        print(f"saekit dashboard: warning: {problem}", file=sys.stderr)
    s = inputs.summaries
    loaded = [k for k, v in (("names", inputs.names), ("audit", inputs.audit), ("artifacts", inputs.artifacts))
              if v is not None]
    if inputs.model_spec:
        loaded.append(f"model {inputs.model_spec} (on first use)")
    print(f"saekit dashboard: {s.d_sae:,} latents over {s.n_samples:,} samples ({inputs.hook_label}); "
          f"loaded: {', '.join(loaded) or 'summaries only'}")
    if cfg.check:
        return inputs
    app = create_app(inputs)
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"saekit dashboard: warning: serving on {cfg.host}: anyone who can reach this machine can "
              "browse the SAE and its data", file=sys.stderr)
    print(f"saekit dashboard: serving on http://{'[' + cfg.host + ']' if ':' in cfg.host else cfg.host}:{port}/"
          " (Ctrl-C stops)", flush=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.run(host=cfg.host, port=port, debug=False, use_reloader=False, threaded=True)
    return inputs
