"""`saekit dashboard`: browse an SAE's latents, names, audit, artifacts and steering in a Dash app."""
from __future__ import annotations

import argparse
import socket
import sys

HELP = "browse an SAE in the Dash feature browser (latents, names, audit, artifacts, steering)"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port must be an integer, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be between 0 and 65535, got {port}")
    return port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sae", required=True, metavar="SAE",
                   help="SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:)")
    p.add_argument("--store", required=True, metavar="PATH", help="activation store (.h5 file or shard directory)")
    p.add_argument("--names", metavar="DIR", help="output directory of `saekit name` (names.json)")
    p.add_argument("--audit", metavar="DIR", help="output directory of `saekit audit` (audit.json)")
    p.add_argument("--artifacts", metavar="DIR", help="output directory of `saekit artifacts` (artifacts.json)")
    p.add_argument("--model", metavar="MODEL", help="model spec for the steering panel (e.g. random:vit, "
                   "hf:<dir>, offline:dinov2-small); default: the model the store was captured from, "
                   "loaded when the steering page first needs it")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8050, help="port to serve on (default 8050; 0 = any free port)")
    p.add_argument("--device", default="cpu", help="device for summaries and steering: auto, cpu, cuda[:N]")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="start even when --names/--audit/--artifacts do not match the SAE or store; the "
                        "mismatch is shown in the page and that input is left out")
    p.add_argument("--check", action="store_true", help="load and check the inputs (computing missing "
                   "summaries), print what would be served, and exit without serving")


def _free_port(host: str, port: int) -> int:
    """The port to serve on: `port` when it can be bound (0 picks a free one)."""
    from saekit.errors import SaekitError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SaekitError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port or --host") from None
        return int(s.getsockname()[1])


def run(args: argparse.Namespace) -> int:
    import logging

    from dashboards.app import create_app
    from dashboards.inputs import load_inputs
    from saekit.device import resolve_device

    device = str(resolve_device(args.device))
    port = _free_port(args.host, args.port)
    inputs = load_inputs(args.sae, args.store, names_dir=args.names, audit_dir=args.audit,
                         artifacts_dir=args.artifacts, model=args.model, strict=not args.allow_mismatch,
                         progress=True, device=device)
    for problem in inputs.problems:
        print(f"saekit dashboard: warning: {problem}", file=sys.stderr)
    s = inputs.summaries
    loaded = [k for k, v in (("names", inputs.names), ("audit", inputs.audit), ("artifacts", inputs.artifacts))
              if v is not None]
    if inputs.model_spec:
        loaded.append(f"model {inputs.model_spec} (on first use)")
    print(f"saekit dashboard: {s.d_sae:,} latents over {s.n_samples:,} samples ({s.hook}); "
          f"loaded: {', '.join(loaded) or 'summaries only'}")
    if args.check:
        return 0
    app = create_app(inputs)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"saekit dashboard: warning: serving on {args.host}: anyone who can reach this machine can "
              "browse the SAE and its data", file=sys.stderr)
    print(f"saekit dashboard: serving on http://{'[' + args.host + ']' if ':' in args.host else args.host}:{port}/"
          " (Ctrl-C stops)", flush=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.run(host=args.host, port=port, debug=False, use_reloader=False, threaded=True)
    return 0
