"""Where the dashboard's first start goes, phase by phase, on a real run (e.g. the quickstart).

    .venv/bin/python experiments/bench/dashboard_startup_bench.py --sae RUN/sae --store RUN/store.h5 [--names RUN/names]

Phases: importing torch (every SAE needs it), importing Dash/plotly and the app, opening the SAE and
the store, loading (or, on the very first start, computing) the latent summaries and the output
documents, building the app, the first page, and the steering page's first run (which loads the
model the store was captured from). Prints one JSON line of seconds.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--names", default=None)
    ap.add_argument("--no-steer", action="store_true", help="skip the steering run (and the model load)")
    args = ap.parse_args()
    out: dict = {"bench": "dashboard_startup"}
    t = time.perf_counter()
    import torch  # noqa: F401

    out["import_torch_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    from dashboards.app import create_app, render_page
    from dashboards.inputs import load_inputs
    from dashboards.views.steering_view import render_effect

    out["import_dashboard_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    inputs = load_inputs(args.sae, args.store, names_dir=args.names, progress=False)
    out["load_inputs_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    app = create_app(inputs)
    out["create_app_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    render_page(app.browser, "/")
    out["first_page_s"] = round(time.perf_counter() - t, 2)
    out["ready_s"] = round(sum(v for k, v in out.items() if k.endswith("_s")), 2)
    if not args.no_steer:
        s = app.browser.summaries
        latent = int(s.freq.argmax())
        t = time.perf_counter()
        render_effect(app.browser, latent, int(s.top_sample_ids[latent, 0]), "clamp", 2.0)
        out["first_steering_run_s"] = round(time.perf_counter() - t, 2)
        out["model"] = inputs.model_spec
    print(json.dumps(out))


if __name__ == "__main__":
    main()
