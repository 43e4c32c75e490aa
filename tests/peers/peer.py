"""Run with the peer venv's python (`make peers`), never with saekit's: the real SAELens, sparsify,
dictionary_learning and saev create, save, load and run SAEs here.

    python tests/peers/peer.py make OUT          # every covered architecture, saved by its library,
                                                 # + OUT/<case>.expected.safetensors (x, z, x_hat) + OUT/manifest.json
    python tests/peers/peer.py outputs JOBS.json # [{name, format, path, inputs, out}]: load saekit's exports
                                                 # with the libraries and write their outputs
    python tests/peers/peer.py e2e OUT           # the foreign SAEs of tests/test_interop_e2e.py

Weights are random (seeded); outputs are each library's own encode/decode on fixed inputs.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transcoder_peer import saelens_transcoder_outputs, sparsify_transcoder_outputs, transcoder_cases  # noqa: E402

D_IN, D_SAE, K = 16, 64, 4
GEN = torch.Generator().manual_seed(1234)


def rand(shape, scale=0.3) -> torch.Tensor:
    return torch.randn(*shape, generator=GEN) * scale


@torch.no_grad()
def randomize(module: torch.nn.Module, skip: tuple[str, ...] = ()) -> None:
    """Random values in every floating-point parameter (decoder rows deliberately not unit-norm)."""
    for name, p in module.named_parameters():
        if name.split(".")[-1] not in skip and p.is_floating_point():
            p.copy_(rand(p.shape))


def inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(99)
    return torch.randn(48, D_IN, generator=g) * 2.0 + 0.5


def write_expected(out: Path, name: str, x, z, x_hat) -> str:
    f = out / f"{name}.expected.safetensors"
    save_file({"x": x.contiguous(), "z": z.detach().float().contiguous(), "x_hat": x_hat.detach().float().contiguous()},
              str(f))
    return f.name


# ---- SAELens ------------------------------------------------------------------------------------------
def saelens_cases(out: Path, x: torch.Tensor) -> list[dict]:
    import sae_lens as sl
    from sae_lens.saes.sae import SAEMetadata
    from sae_lens.training.activation_scaler import ActivationScaler

    cases = []

    def meta():
        return SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="gpt2")

    def run(name, path, scaler=None, arch=None, also=()):
        sae = sl.SAE.load_from_disk(str(path))
        with torch.no_grad():
            xs = scaler.scale(x) if scaler else x
            z = sae.encode(xs)
            xh = sae.decode(z)
            xh = scaler.unscale(xh) if scaler else xh
        exp = write_expected(out, name, x, z, xh)
        for spec_path in (path, *also):
            cases.append({"name": f"{name}@{Path(spec_path).name}", "spec": f"saelens:{spec_path}", "expected": exp,
                          "arch": arch, "hook": "blocks.1.hook_resid_post", "model": "gpt2"})

    with torch.no_grad():
        s = sl.StandardSAE(sl.StandardSAEConfig(d_in=D_IN, d_sae=D_SAE, metadata=meta()))
        randomize(s)
        s.save_model(out / "saelens_standard")
        run("saelens_standard", out / "saelens_standard", arch="relu")

        s = sl.StandardSAE(sl.StandardSAEConfig(d_in=D_IN, d_sae=D_SAE, apply_b_dec_to_input=False, metadata=meta()))
        randomize(s)
        s.save_model(out / "saelens_standard_nobdec")
        run("saelens_standard_nobdec", out / "saelens_standard_nobdec", arch="relu")

        s = sl.TopKSAE(sl.TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K, rescale_acts_by_decoder_norm=True, metadata=meta()))
        randomize(s)
        s.save_model(out / "saelens_topk")
        run("saelens_topk", out / "saelens_topk", arch="topk")

        # a training checkpoint: normalize_activations with the factor in activation_scaler.json
        s = sl.TopKTrainingSAE(sl.TopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K, metadata=meta(),
                                                        normalize_activations="expected_average_only_in"))
        randomize(s)
        s.save_model(out / "saelens_topk_scaled")
        scaler = ActivationScaler(scaling_factor=0.37)
        scaler.save(str(out / "saelens_topk_scaled" / "activation_scaler.json"))
        run("saelens_topk_scaled", out / "saelens_topk_scaled", scaler=scaler, arch="topk")

        # BatchTopK: the training checkpoint (architecture batchtopk + topk_threshold) and the inference
        # save (SAELens turns it into a jumprelu SAE) must give the same function
        s = sl.BatchTopKTrainingSAE(sl.BatchTopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=float(K), metadata=meta()))
        randomize(s)
        s.topk_threshold = torch.tensor(0.25, dtype=torch.double)
        s.save_model(out / "saelens_batchtopk_ckpt")
        s.save_inference_model(out / "saelens_batchtopk")
        run("saelens_batchtopk", out / "saelens_batchtopk", arch="jumprelu")
        cases[-1]["arch"] = "jumprelu"
        cases.append({**cases[-1], "name": "saelens_batchtopk@ckpt", "spec": f"saelens:{out / 'saelens_batchtopk_ckpt'}",
                      "arch": "batchtopk"})

        s = sl.MatryoshkaBatchTopKTrainingSAE(sl.MatryoshkaBatchTopKTrainingSAEConfig(
            d_in=D_IN, d_sae=D_SAE, k=float(K), matryoshka_widths=[16, 32, D_SAE], metadata=meta()))
        randomize(s)
        s.topk_threshold = torch.tensor(0.2, dtype=torch.double)
        s.save_model(out / "saelens_matryoshka_ckpt")
        s.save_inference_model(out / "saelens_matryoshka")
        run("saelens_matryoshka", out / "saelens_matryoshka", arch="jumprelu")
        cases.append({**cases[-1], "name": "saelens_matryoshka@ckpt",
                      "spec": f"saelens:{out / 'saelens_matryoshka_ckpt'}", "arch": "matryoshka"})

        s = sl.JumpReLUSAE(sl.JumpReLUSAEConfig(d_in=D_IN, d_sae=D_SAE, metadata=meta()))
        randomize(s)
        s.threshold.copy_(rand((D_SAE,), 0.3))  # some thresholds <= 0: plain ReLU there
        s.save_model(out / "saelens_jumprelu")
        run("saelens_jumprelu", out / "saelens_jumprelu", arch="jumprelu")

        s = sl.GatedSAE(sl.GatedSAEConfig(d_in=D_IN, d_sae=D_SAE, metadata=meta()))
        randomize(s)
        s.save_model(out / "saelens_gated")
        run("saelens_gated", out / "saelens_gated", arch="gated")

        s = sl.GatedSAE(sl.GatedSAEConfig(d_in=D_IN, d_sae=D_SAE, apply_b_dec_to_input=False, metadata=meta()))
        randomize(s)
        s.save_model(out / "saelens_gated_nobdec")
        run("saelens_gated_nobdec", out / "saelens_gated_nobdec", arch="gated")

        # variants saekit refuses
        t = sl.JumpReLUSAE(sl.JumpReLUSAEConfig(d_in=D_IN, d_sae=D_SAE, metadata=meta(), normalize_activations="layer_norm"))
        t.save_model(out / "saelens_layernorm")
        cases.append({"name": "saelens_layernorm", "spec": f"saelens:{out / 'saelens_layernorm'}",
                      "error": "normalize_activations='layer_norm' is not supported"})
        t = sl.TopKTrainingSAE(sl.TopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K, metadata=meta(),
                                                        normalize_activations="expected_average_only_in"))
        t.save_model(out / "saelens_noscale")
        cases.append({"name": "saelens_noscale", "spec": f"saelens:{out / 'saelens_noscale'}",
                      "error": "no scaling factor is stored"})
    return cases


def gemmascope_cases(out: Path, x: torch.Tensor) -> list[dict]:
    """params.npz as Google released them, read through SAELens' Gemma Scope loader."""
    import sae_lens as sl
    import sae_lens.loading.pretrained_sae_loaders as loaders

    repo, folder = "gemma-scope-2b-pt-res", "layer_3/width_16k/average_l0_50"
    root = out / "gemmascope" / repo
    (root / folder).mkdir(parents=True)
    g = np.random.default_rng(5)
    arrays = {"W_enc": g.normal(0, 0.3, (D_IN, D_SAE)), "W_dec": g.normal(0, 0.3, (D_SAE, D_IN)),
              "b_enc": g.normal(0, 0.3, D_SAE), "b_dec": g.normal(0, 0.3, D_IN), "threshold": np.abs(g.normal(0, 0.3, D_SAE))}
    np.savez(root / folder / "params.npz", **{k: v.astype(np.float32) for k, v in arrays.items()})

    def local_download(repo_id, filename, subfolder=None, **_kw):  # the hub stands in for the local folder
        return str(root / (subfolder or "") / filename)

    loaders.hf_hub_download = local_download
    cfg, state, _ = loaders.gemma_2_sae_huggingface_loader(f"google/{repo}", folder, device="cpu",
                                                            cfg_overrides={"d_in": D_IN, "d_sae": D_SAE})
    cfg = loaders.handle_config_defaulting(cfg)
    sae = sl.JumpReLUSAE(sl.JumpReLUSAEConfig.from_dict(cfg))
    sae.load_state_dict(state)
    with torch.no_grad():
        z = sae.encode(x)
        exp = write_expected(out, "gemmascope", x, z, sae.decode(z))
    return [{"name": "gemmascope", "spec": f"gemmascope:{root / folder}", "expected": exp, "arch": "jumprelu",
             "hook": "blocks.3.hook_resid_post", "model": "gemma-2-2b"},
            {"name": "gemmascope@file", "spec": str(root / folder / "params.npz"), "expected": exp, "arch": "jumprelu"}]


# ---- sparsify -----------------------------------------------------------------------------------------
def sparsify_outputs(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from sparsify import SparseCoder

    sc = SparseCoder.load_from_disk(path)
    with torch.no_grad():
        top_acts, top_idx, _ = sc.encode(x)
        z = torch.zeros(x.shape[0], sc.num_latents).scatter_(1, top_idx, top_acts)
        return z, sc.decode(top_acts, top_idx)


def sparsify_cases(out: Path, x: torch.Tensor) -> list[dict]:
    from sparsify import SparseCoder, SparseCoderConfig

    run = out / "sparsify_run"
    cases = []
    for hookpoint, extra, hook in (("layers.1", {}, "blocks.1.hook_resid_post"),
                                   ("layers.2.mlp", {"multi_topk": True}, "blocks.2.hook_mlp_out")):
        sc = SparseCoder(D_IN, SparseCoderConfig(k=K, num_latents=D_SAE, **extra))
        randomize(sc)
        sc.save_to_disk(run / hookpoint)
        z, xh = sparsify_outputs(run / hookpoint, x)
        exp = write_expected(out, f"sparsify_{hookpoint}", x, z, xh)
        cases.append({"name": f"sparsify_{hookpoint}", "spec": f"sparsify:{run / hookpoint}", "expected": exp,
                      "arch": "topk", "hook": hook})
    for hookpoint, extra, msg in (("layers.4", {"skip_connection": True}, "has a skip connection"),):
        SparseCoder(D_IN, SparseCoderConfig(k=K, num_latents=D_SAE, **extra)).save_to_disk(run / hookpoint)
        cases.append({"name": f"sparsify_{hookpoint}", "spec": str(run / hookpoint), "error": msg})
    cases.append({"name": "sparsify_run", "spec": f"sparsify:{run}", "error": "holds one SAE per hook point"})
    return cases


# ---- dictionary_learning ------------------------------------------------------------------------------
def dictlearn_outputs(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from dictionary_learning.utils import load_dictionary

    ae, _ = load_dictionary(str(path), device="cpu")
    with torch.no_grad():
        z = ae.encode(x)
        return z, ae.decode(z)


def dictlearn_cases(out: Path, x: torch.Tensor) -> list[dict]:
    from dictionary_learning.trainers.batch_top_k import BatchTopKTrainer
    from dictionary_learning.trainers.gdm import GatedSAETrainer
    from dictionary_learning.trainers.jumprelu import JumpReluTrainer
    from dictionary_learning.trainers.matryoshka_batch_top_k import MatryoshkaBatchTopKTrainer
    from dictionary_learning.trainers.standard import StandardTrainer
    from dictionary_learning.trainers.top_k import TopKTrainer

    common = dict(steps=10_000, activation_dim=D_IN, dict_size=D_SAE, layer=2, lm_name="random:vit",
                  submodule_name="resid_post_layer_2", device="cpu", seed=0)
    specs = {
        "AutoEncoder": (StandardTrainer, {}, "relu"),
        "AutoEncoderTopK": (TopKTrainer, {"k": K}, "topk"),
        "BatchTopKSAE": (BatchTopKTrainer, {"k": K}, "batchtopk"),
        "MatryoshkaBatchTopKSAE": (MatryoshkaBatchTopKTrainer, {"k": K, "group_fractions": [0.25, 0.25, 0.5]}, "matryoshka"),
        "JumpReluAutoEncoder": (JumpReluTrainer, {}, "jumprelu"),
        "GatedAutoEncoder": (GatedSAETrainer, {}, "gated"),
    }
    cases = []
    for cls, (trainer_cls, extra, arch) in specs.items():
        trainer = trainer_cls(**common, **extra)
        ae = trainer.ae
        randomize(ae)
        with torch.no_grad():
            if cls in ("BatchTopKSAE", "MatryoshkaBatchTopKSAE"):
                ae.threshold.fill_(0.2)
            if cls == "JumpReluAutoEncoder":
                ae.threshold.copy_(rand((D_SAE,), 0.3))
        d = out / f"dictlearn_{cls}"
        d.mkdir()
        # what dictionary_learning.training.trainSAE writes for each trainer
        (d / "config.json").write_text(json.dumps({"trainer": trainer.config}, indent=4))
        torch.save({k: v.cpu() for k, v in ae.state_dict().items()}, d / "ae.pt")
        z, xh = dictlearn_outputs(d, x)
        exp = write_expected(out, f"dictlearn_{cls}", x, z, xh)
        cases.append({"name": f"dictlearn_{cls}", "spec": f"dictlearn:{d}", "expected": exp, "arch": arch,
                      "hook": "blocks.2.hook_resid_post", "model": "random:vit"})
    return cases


# ---- saev ---------------------------------------------------------------------------------------------
def saev_cases(out: Path, x: torch.Tensor) -> list[dict]:
    import saev.config
    import saev.nn

    cfg = saev.config.SparseAutoencoder(d_vit=D_IN, exp_factor=D_SAE // D_IN, seed=0)
    sae = saev.nn.SparseAutoencoder(cfg)
    randomize(sae)
    run = out / "saev" / "run1"
    saev.nn.dump(str(run / "sae.pt"), sae)
    train_cfg = saev.config.Train(data=saev.config.DataLoad(layer=3, patches="patches"), sae=cfg)
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(train_cfg), indent=4))  # as saev.training does
    loaded = saev.nn.load(str(run / "sae.pt"))
    with torch.no_grad():
        x_hat, f_x, _ = loaded(x)
    exp = write_expected(out, "saev", x, f_x, x_hat)
    return [{"name": "saev", "spec": f"saev:{run / 'sae.pt'}", "expected": exp, "arch": "relu",
             "hook": "blocks.3.hook_resid_post", "tokens": "patches"},
            {"name": "saev@dir", "spec": str(run), "expected": exp, "arch": "relu"}]


def e2e(out: Path) -> None:
    """Two foreign SAEs for the end-to-end command tests: a SAELens TopK SAE on random:gpt2's residual
    stream after block 1 (width 64) and a dictionary_learning BatchTopK SAE on random:clip's (width 48)."""
    import sae_lens as sl
    from sae_lens.saes.sae import SAEMetadata
    from dictionary_learning.trainers.batch_top_k import BatchTopKTrainer

    with torch.no_grad():
        s = sl.TopKSAE(sl.TopKSAEConfig(d_in=64, d_sae=128, k=8, metadata=SAEMetadata(
            hook_name="blocks.1.hook_resid_post", model_name="random:gpt2")))
        randomize(s)
        s.save_model(out / "saelens_topk_gpt2")
        trainer = BatchTopKTrainer(steps=10_000, activation_dim=48, dict_size=96, k=8, layer=1, lm_name="random:clip",
                                   submodule_name="resid_post_layer_1", device="cpu", seed=0)
        randomize(trainer.ae)
        trainer.ae.threshold.fill_(0.05)
    d = out / "dictlearn_batchtopk_clip"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"trainer": trainer.config}, indent=4))
    torch.save({k: v.cpu() for k, v in trainer.ae.state_dict().items()}, d / "ae.pt")
    print("ok")


def make(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x = inputs()
    cases = []
    for fn in (saelens_cases, gemmascope_cases, sparsify_cases, dictlearn_cases, saev_cases):
        cases += fn(out, x)
    cases += transcoder_cases(out, x, D_IN, D_SAE, K, rand, randomize, write_expected)
    (out / "manifest.json").write_text(json.dumps(cases, indent=2))
    print(f"{len(cases)} cases in {out}")


def outputs(jobs_file: Path) -> None:
    import sae_lens as sl

    for job in json.loads(jobs_file.read_text()):
        x = load_file(job["inputs"])["x"]
        path = Path(job["path"])
        if job.get("transcoder"):
            z, xh = (saelens_transcoder_outputs if job["format"] == "saelens" else sparsify_transcoder_outputs)(path, x)
        elif job["format"] == "saelens":
            sae = sl.SAE.load_from_disk(str(path))
            with torch.no_grad():
                z = sae.encode(x)
                xh = sae.decode(z)
        elif job["format"] == "sparsify":
            z, xh = sparsify_outputs(path, x)
        elif job["format"] == "dictlearn":
            z, xh = dictlearn_outputs(path, x)
        else:
            raise SystemExit(f"unknown format {job['format']}")
        save_file({"z": z.float().contiguous(), "x_hat": xh.float().contiguous()}, job["out"])
    print("ok")


if __name__ == "__main__":
    torch.set_num_threads(1)
    cmd, arg = sys.argv[1], Path(sys.argv[2])
    {"make": make, "e2e": e2e, "outputs": outputs}[cmd](arg)
