"""Capture throughput vs the forward pass alone, same model, same images, same run.

Model: random:vit-s (ViT-S/16 shape, 224 px, 12 layers, d=384; random weights, so no download).
Data: N synthetic PNG images in class folders, decoded and preprocessed on every pass.
forward alone: for each batch, decode + preprocess + full forward (no hooks, no store).
capture: saekit.capture.capture end to end (loader thread, hooks, early stop, token selection,
float16 store writes with a commit per batch, close with stats), at a middle layer and at the
last layer. Prints one JSON line; capture_ratio is the middle-layer capture over forward alone
(best of --reps alternating runs each).

    .venv/bin/python experiments/bench/capture_bench.py [--n 128] [--batch-size 16] [--device auto]

--llm: the language-model comparison instead. offline:smollm2-135m (float32, right padding to the
longest paragraph of each batch, --batch-size paragraphs per batch, tokens all) on the first --n
paragraphs of bundled:austen: `saekit.capture.capture` of blocks.15.hook_resid_post (tokenise,
forward to layer 15, select the non-padding tokens, write float32 rows) against a plain
transformers forward of the same batches (the same tokeniser call, then the transformers model
with a torch hook that stops it after decoder layer 15; a separately loaded LlamaForCausalLM of the
same weights with saekit's loader settings, eager attention, float32, no TransformerBridge around
it). Rates are non-padding tokens per second; the two alternate --reps times, best of each kept.

    .venv/bin/python experiments/bench/capture_bench.py --llm [--n 16] [--batch-size 8] [--reps 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402


def make_images(root: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        d = root / f"class{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        # smooth random images (upsampled noise) so PNG decoding costs something realistic
        small = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize((256, 256), Image.BILINEAR).save(d / f"{i:05d}.png")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None, help="images (default 128) or paragraphs with --llm (default 16)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 16, or 8 with --llm")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", default="random:vit-s")
    ap.add_argument("--reps", type=int, default=2, help="alternating repetitions; the best of each is reported")
    ap.add_argument("--llm", action="store_true", help="SmolLM2 layer-15 capture vs a plain transformers forward")
    ap.add_argument("--layer", type=int, default=15)
    args = ap.parse_args()
    args.n = args.n or (16 if args.llm else 128)
    args.batch_size = args.batch_size or (8 if args.llm else 16)
    if args.llm:
        return llm_main(args)

    from saekit.capture import CaptureConfig, capture
    from saekit.data import load_dataset
    from saekit.models import load_model

    tmp = Path(tempfile.mkdtemp(prefix="capture_bench_"))
    make_images(tmp / "imgs", args.n)
    ds = load_dataset(str(tmp / "imgs"))
    m = load_model(args.model, args.device)
    mid, last = m.n_layers // 2 - 1, m.n_layers - 1
    hook_mid, hook_last = f"blocks.{mid}.hook_resid_post", f"blocks.{last}.hook_resid_post"
    sync = torch.cuda.synchronize if m.device.type == "cuda" else (lambda: None)

    batches = [list(range(i, min(i + args.batch_size, args.n))) for i in range(0, args.n, args.batch_size)]
    m.forward(m.prepare([ds[i] for i in batches[0]]))  # warm-up

    def forward_alone() -> float:
        sync()
        t = time.perf_counter()
        for b in batches:
            m.forward(m.prepare([ds[i] for i in b]))
        sync()
        return args.n / (time.perf_counter() - t)

    def capture_run(hook: str, name: str) -> tuple[float, dict]:
        cfg = CaptureConfig(model=args.model, data=str(tmp / "imgs"), hooks=(hook,), out=str(tmp / f"{name}.h5"),
                            dtype="float16", batch_size=args.batch_size, progress=False, overwrite=True,
                            device=args.device)
        sync()
        t = time.perf_counter()
        res = capture(cfg, model=m, dataset=ds)
        sync()
        return args.n / (time.perf_counter() - t), res.rows

    # alternate the three measurements and keep each one's best run: on a shared machine the
    # best of several runs is the least disturbed estimate of what the code itself costs
    fwds, mids, lasts = [], [], []
    for _ in range(args.reps):
        fwds.append(forward_alone())
        cap_mid, rows_mid = capture_run(hook_mid, "mid")
        mids.append(cap_mid)
        lasts.append(capture_run(hook_last, "last")[0])
    fwd, cap_mid, cap_last = max(fwds), max(mids), max(lasts)
    print(json.dumps({
        "bench": "capture", "model": args.model, "device": str(m.device), "n_images": args.n,
        "batch_size": args.batch_size, "tokens": "all", "dtype": "float16", "reps": args.reps,
        "forward_samples_per_s": round(fwd, 3), "forward_runs": [round(x, 3) for x in fwds],
        "capture_runs": [round(x, 3) for x in mids], "capture_last_runs": [round(x, 3) for x in lasts],
        "capture_samples_per_s": round(cap_mid, 3), "capture_hook": hook_mid,
        "capture_ratio": round(cap_mid / fwd, 3),
        "capture_last_samples_per_s": round(cap_last, 3), "capture_last_hook": hook_last,
        "capture_ratio_last_layer": round(cap_last / fwd, 3),
        "rows_written": rows_mid[hook_mid], "mb_written": round(rows_mid[hook_mid] * m.d_model * 2 / 2**20, 1),
        "torch_threads": torch.get_num_threads(),
    }))


def llm_main(args: argparse.Namespace) -> None:
    from saekit.capture import CaptureConfig, capture
    from saekit.data import load_dataset
    from saekit.models import load_model

    from saekit.models.hf_layers import decoder_layers
    from saekit.models.offline import load_smollm2_hf

    model_spec, data_spec = "offline:smollm2-135m", "bundled:austen"
    m = load_model(model_spec, args.device)
    ds = load_dataset(data_spec)
    hf = load_smollm2_hf()[0].to(m.device)  # a plain transformers model of the same weights, no bridge around it
    layers = decoder_layers(hf, m.n_layers)
    hook = f"blocks.{args.layer}.hook_resid_post"
    sync = torch.cuda.synchronize if m.device.type == "cuda" else (lambda: None)
    batches = [list(range(i, min(i + args.batch_size, args.n))) for i in range(0, args.n, args.batch_size)]
    n_tokens = sum(int(m.prepare([ds[i] for i in b])["attention_mask"].sum()) for b in batches)

    class Stop(Exception):
        pass

    def stop(*_a) -> None:
        raise Stop

    def plain_forward() -> float:
        handle = layers[args.layer].register_forward_hook(stop)
        try:
            sync()
            t = time.perf_counter()
            for b in batches:
                inputs = m.prepare([ds[i] for i in b])
                try:
                    with torch.no_grad():
                        hf(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
                except Stop:
                    pass
            sync()
            return n_tokens / (time.perf_counter() - t)
        finally:
            handle.remove()

    tmp = Path(tempfile.mkdtemp(prefix="capture_bench_llm_"))

    def capture_run() -> float:
        cfg = CaptureConfig(model=model_spec, data=data_spec, hooks=(hook,), out=str(tmp / "llm.h5"), dtype="float32",
                            batch_size=args.batch_size, limit=args.n, progress=False, overwrite=True,
                            device=args.device, tokens="all")
        sync()
        t = time.perf_counter()
        capture(cfg, model=m, dataset=ds)
        sync()
        return n_tokens / (time.perf_counter() - t)

    plain_forward()  # warm-up
    fwds, caps = [], []
    for _ in range(args.reps):
        fwds.append(plain_forward())
        caps.append(capture_run())
    print(json.dumps({
        "bench": "capture_llm", "model": model_spec, "data": data_spec, "device": str(m.device), "paragraphs": args.n,
        "batch_size": args.batch_size, "padding": "right, to the longest paragraph of each batch", "dtype": "float32",
        "tokens": "all", "non_padding_tokens": n_tokens, "baseline": "transformers LlamaForCausalLM, eager attention", "hook": hook, "reps": args.reps,
        "forward_to_layer_tokens_per_s": round(max(fwds), 2), "capture_tokens_per_s": round(max(caps), 2),
        "capture_ratio": round(max(caps) / max(fwds), 3), "forward_runs": [round(x, 2) for x in fwds],
        "capture_runs": [round(x, 2) for x in caps], "torch_threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    sys.exit(main())
