"""How fast the feature browser's pages render at 16k latents over 100k samples.

Builds LatentSummaries directly (no training: synthetic arrays with the documented shapes), a real
100k-sample store, names and audit documents of that size (tests/dashboard_fixtures.py) and the
output of the real `saekit artifacts` on random:vit, then times, server side, every page's
layout (the routing callback's body), the feature table's query callback, the same callbacks as
full HTTP requests through Dash's /_dash-update-component, and the heatmap image route; and, when
Debian's chromium is installed, a real-browser load of the list and of a feature page with all
its images. Prints one JSON line.

    .venv/bin/python experiments/bench/dashboard_bench.py [--latents 16384] [--samples 100000]
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # dashboard_fixtures: test scaffolding, not part of the packages


def _timed(fn, repeat: int = 5) -> dict:
    """Cold (first call) and warm (median of the next `repeat`) seconds."""
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return {"cold_s": round(cold, 4), "warm_s": round(statistics.median(warm), 4), "max_s": round(max(warm), 4)}


def build(root: Path, n_latents: int, n_samples: int, tokens: int, top_k: int) -> tuple:
    from dashboard_fixtures import CLASSES, draw_shape, scale_audit, scale_names, synthetic_summaries
    from saekit.cli.main import main
    from saekit.results import StoreMetadata
    from stores import ActivationStore

    hook = "blocks.5.hook_resid_post"
    images = root / "images"
    images.mkdir(parents=True)
    for j in range(32):
        draw_shape(CLASSES[j % 3], j % 16, 4, size=224, seed=j).save(images / f"{j:02d}.png")
    labels = [f"class_{c:03d}" for c in range(100)]
    store_path = root / "store.h5"
    w = ActivationStore.create(store_path, hooks={hook: 8}, dtype="float16",
                               attrs=StoreMetadata(model_id="random:vit", modality="image", tokens="patches",
                                                   dataset_modality="image", data=str(images)).to_attrs())
    ids = np.arange(n_samples, dtype=np.int64)
    w.append(hook, np.zeros((n_samples, 8), np.float32), ids, np.full(n_samples, -1, np.int32))
    w.add_samples(ids, [{"source": f"{i % 32:02d}.png", "label": labels[i % 100], "text": ""} for i in range(n_samples)])
    w.close()
    store = ActivationStore.open(store_path)
    s = synthetic_summaries(n_latents, n_samples, tokens=tokens, top_k=top_k, hook=hook)
    words = ["fur", "stripes", "sky", "wheel", "text", "water", "leaf", "face"]
    scale_names(root / "names", s, names={i: f"{words[i % 8]} {words[(i // 8) % 8]} {i}" for i in range(n_latents)})
    rng = np.random.default_rng(0)
    classes = {c: {"target": [int(x) for x in rng.integers(0, n_latents, 3)],
                   "context": [int(x) for x in rng.integers(0, n_latents, 3)],
                   "bias": [int(x) for x in rng.integers(0, n_latents, 2)]} for c in labels}
    examples = {i: [int(x) for x in rng.integers(0, n_samples, 4)] for r in classes.values() for v in r.values() for i in v}
    scale_audit(root / "audit", s, classes, examples)
    if main(["artifacts", "--model", "random:vit", "--data", str(images), "--out", str(root / "artifacts"),
             "--limit", "8", "--device", "cpu"]) != 0:
        raise RuntimeError("saekit artifacts failed")
    return s, store


def browser_loads(app, latent: int) -> dict:
    """Real headless-Chromium loads: the list until its table shows, a feature page until every image is in."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1360,1000"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    out = {}
    try:
        imgs_js = ("const im = Array.from(document.querySelectorAll('#top-examples img'));"
                   "return im.length > 0 && im.every(i => i.complete && i.naturalWidth > 0);")
        table_js = "return document.querySelectorAll('#feature-table td.dash-cell').length > 0;"

        def load(url: str, ready_js: str) -> float:
            t0 = time.perf_counter()
            d.get(base + url)
            WebDriverWait(d, 60, poll_frequency=0.02).until(lambda dr: dr.execute_script(ready_js))
            return round(time.perf_counter() - t0, 3)

        # full page loads (d.get waits for the load event: JS bundles, plotly.js on pages with graphs)
        out["browser_list_first_load_s"] = load("/", table_js)          # empty browser cache
        out["browser_feature_first_load_s"] = load(f"/feature/{latent}", imgs_js)
        out["browser_list_reload_s"] = load("/", table_js)              # cached JS
        out["browser_feature_reload_s"] = load(f"/feature/{latent + 1}", imgs_js)
        # in-app navigation, no reload: click a row of the list -> feature page with every image in
        load("/", table_js)
        row = d.find_element(By.CSS_SELECTOR, "#feature-table td.dash-cell[data-dash-column='name']")
        t0 = time.perf_counter()
        row.click()
        WebDriverWait(d, 60, poll_frequency=0.02).until(
            lambda dr: "/feature/" in dr.current_url and dr.execute_script(imgs_js))
        out["browser_nav_list_to_feature_s"] = round(time.perf_counter() - t0, 3)
        # in-app update: type in the search box -> the table's callback -> new rows
        load("/", table_js)
        box = d.find_element(By.ID, "feature-search")
        t0 = time.perf_counter()
        box.send_keys("stripes fur")
        WebDriverWait(d, 30, poll_frequency=0.02).until(
            lambda dr: "stripes fur" in dr.find_element(By.CSS_SELECTOR, "#feature-table td.dash-cell[data-dash-column='name']").text)
        out["browser_search_s"] = round(time.perf_counter() - t0, 3)  # includes the 0.25 s input debounce
    finally:
        d.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latents", type=int, default=16384)
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--tokens", type=int, default=256, help="tokens per sample kept for top examples (16x16 patches)")
    ap.add_argument("--top-k", type=int, default=16)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from dashboards.app import create_app, render_page
    from dashboards.inputs import DashboardInputs, attach_outputs
    from saekit.results import StoreMetadata

    root = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    result: dict = {"bench": "dashboard", "latents": args.latents, "samples": args.samples, "tokens": args.tokens,
                    "top_k": args.top_k}
    try:
        t0 = time.perf_counter()
        s, store = build(root, args.latents, args.samples, args.tokens, args.top_k)
        result["build_inputs_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        inputs = DashboardInputs(summaries=s, store=store, meta=StoreMetadata.from_store(store),
                                 store_path=root / "store.h5")
        attach_outputs(inputs, names_dir=root / "names", audit_dir=root / "audit", artifacts_dir=root / "artifacts")
        app = create_app(inputs)
        result["startup_s"] = round(time.perf_counter() - t0, 3)
        b = app.browser
        rng = np.random.default_rng(1)
        latents = [int(i) for i in rng.choice(np.flatnonzero(s.freq > 0), 5, replace=False)]
        sample = int(s.top_sample_ids[latents[0], 0])
        pages = {
            "feature_list": lambda: render_page(b, "/"),
            "feature_page": lambda: [render_page(b, f"/feature/{i}") for i in latents[:1]],
            "sample_page": lambda: render_page(b, f"/sample/{sample}"),
            "audit": lambda: render_page(b, "/audit"),
            "audit_class": lambda: render_page(b, "/class/class_042"),
            "artifacts": lambda: render_page(b, "/artifacts"),
            "steer": lambda: render_page(b, "/steer", f"?latent={latents[0]}"),
            "table_query": lambda: b.catalog.query(search="stripes", filter_query="{mono} > 0.5 && {freq} > 0.0001",
                                                   sort_by=[{"column_id": "mono", "direction": "desc"}], page=7),
        }
        result["render"] = {k: _timed(fn) for k, fn in pages.items()}
        # each of the 5 random feature pages, first time each
        per_feature = []
        for i in latents:
            t0 = time.perf_counter()
            render_page(b, f"/feature/{i}")
            per_feature.append(time.perf_counter() - t0)
        result["feature_pages_first_render_max_s"] = round(max(per_feature), 4)
        # the same callbacks as HTTP requests (JSON encoding + Flask included)
        client = app.server.test_client()
        client.get("/")
        client.get("/_dash-layout")

        def route_request(path: str):
            body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
                    "inputs": [{"id": "url", "property": "pathname", "value": path},
                               {"id": "url", "property": "search", "value": ""}],
                    "changedPropIds": ["url.pathname"], "state": []}
            r = client.post("/_dash-update-component", json=body)
            assert r.status_code == 200, (path, r.status_code, r.data[:300])
            return len(r.data)

        result["http"] = {
            "feature_list": _timed(lambda: route_request("/")),
            "feature_page": _timed(lambda: route_request(f"/feature/{latents[1]}")),
            "audit": _timed(lambda: route_request("/audit")),
            "artifacts": _timed(lambda: route_request("/artifacts")),
        }
        result["http_feature_page_bytes"] = route_request(f"/feature/{latents[1]}")
        # image route: a heatmap PNG from the store's image (cold = decode + overlay + encode; warm = cache)
        k_ids = [int(x) for x in s.top_sample_ids[latents[2]] if x >= 0]
        cold = []
        for sid in k_ids[:8]:
            t0 = time.perf_counter()
            r = client.get(f"/img/sample/{sid}.png?latent={latents[2]}&size=160")
            assert r.status_code == 200
            cold.append(time.perf_counter() - t0)
        result["image_png_cold_s"] = round(statistics.median(cold), 4)
        result["image_png_warm_s"] = _timed(
            lambda: client.get(f"/img/sample/{k_ids[0]}.png?latent={latents[2]}&size=160"))["warm_s"]
        worst = max([v["warm_s"] for v in result["render"].values()] + [v["warm_s"] for v in result["http"].values()])
        result["worst_warm_page_s"] = worst
        result["all_pages_under_1s"] = bool(worst < 1.0 and result["feature_pages_first_render_max_s"] < 1.0)
        if not args.no_browser and shutil.which("chromium") and shutil.which("chromedriver"):
            try:
                result.update(browser_loads(app, latents[3]))
            except Exception as exc:  # noqa: BLE001 - the server-side numbers still stand
                result["browser_error"] = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
        else:
            result["browser"] = "skipped (no chromium/chromedriver or --no-browser)"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
