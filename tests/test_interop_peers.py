"""Compatibility with the real libraries: SAELens, sparsify, dictionary_learning and saev create,
save and run SAEs of every covered architecture (tests/peers/peer.py, run with the peer venv that
`make peers` builds); saekit loads their files and must compute the same latents and
reconstructions, and every saekit export must open in the library and compute the same function."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from saekit.common.errors import SaekitError
from saekit.sae import load_sae, SAE
from saekit.sae.formats import EXPORTERS, export_sae
from saekit.sae.formats.dictlearn import latent_scale

from test_interop_formats import ARCHS, EXPORTABLE, make_sae

ROOT = Path(__file__).resolve().parents[1]
PEER_SCRIPT = ROOT / "tests" / "peers" / "peer.py"
FAMILIES = ("saelens", "gemmascope", "sparsify", "dictlearn", "saev")


def peer_python() -> Path:
    py = Path(os.environ.get("SAEKIT_PEERS_PYTHON", ROOT / ".venv-peers" / "bin" / "python"))
    if not py.exists():
        if os.environ.get("CI"):
            pytest.fail(f"peer venv {py} is missing: `make test` builds it with `make peers`")
        pytest.skip(f"peer venv {py} is missing (run `make peers`)")
    return py


def run_peer(*args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)  # the peer venv must not see saekit
    proc = subprocess.run([str(peer_python()), str(PEER_SCRIPT), *args], capture_output=True, text=True,
                          timeout=900, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="session")
def peer_saes(tmp_path_factory) -> tuple[Path, list[dict]]:
    peer_python()
    out = tmp_path_factory.mktemp("peer_saes")
    run_peer("make", str(out))
    return out, json.loads((out / "manifest.json").read_text())


def max_rel_diff(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> float:
    """max |a - b| relative to the activation scale (max |x|)."""
    return float((a - b).abs().max()) / float(x.abs().max())


@pytest.mark.parametrize("family", FAMILIES)
def test_saekit_computes_what_the_library_computes(peer_saes, family):
    out, cases = peer_saes
    mine = [c for c in cases if c["name"].startswith(family)]
    assert mine, family
    for case in mine:
        if "error" in case:
            with pytest.raises(SaekitError, match=case["error"]) as info:
                load_sae(case["spec"])
            assert "\n" not in str(info.value)
            continue
        sae = load_sae(case["spec"])
        assert sae.cfg.arch == case["arch"], case["name"]
        for key, field in (("hook", "hook"), ("model", "model_id"), ("tokens", "tokens")):
            if key in case:
                assert getattr(sae.cfg, field) == case[key], (case["name"], field)
        assert sae.cfg.source["format"] == family.removesuffix("@")
        exp = load_file(str(out / case["expected"]))
        x = exp["x"]
        with torch.no_grad():
            z = sae.encode(x)
            x_hat = sae.decode(z)
        assert int((exp["z"] != 0).sum()) > 0, case["name"]
        assert max_rel_diff(z, exp["z"], x) <= 1e-5, case["name"]
        assert max_rel_diff(x_hat, exp["x_hat"], x) <= 1e-5, case["name"]
        idx, vals = sae.encode_sparse(x)
        dense = torch.zeros_like(z).scatter_(1, idx, vals)
        assert max_rel_diff(dense, exp["z"], x) <= 1e-5, case["name"]


def test_every_export_opens_in_the_library_with_the_same_function(tmp_path):
    peer_python()
    x = torch.randn(48, 16, generator=torch.Generator().manual_seed(3)) * 2.0
    save_file({"x": x}, str(tmp_path / "x.safetensors"))
    jobs, saes = [], {}
    for arch in ARCHS:
        sae = make_sae(arch, seed=len(saes) + 2)
        for fmt in EXPORTERS:
            if arch not in EXPORTABLE[fmt]:
                continue
            name = f"{arch}_{fmt}"
            export_sae(sae, fmt, tmp_path / name)
            saes[name] = (sae, fmt, arch)
            jobs.append({"name": name, "format": fmt, "path": str(tmp_path / name),
                         "inputs": str(tmp_path / "x.safetensors"), "out": str(tmp_path / f"{name}.out.safetensors")})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    run_peer("outputs", str(tmp_path / "jobs.json"))
    assert len(jobs) == 6 + 6 + 1
    for name, (sae, fmt, arch) in saes.items():
        got = load_file(str(tmp_path / f"{name}.out.safetensors"))
        with torch.no_grad():
            z = sae.encode(x)
            x_hat = sae.decode(z)
        if (fmt, arch) == ("dictlearn", "relu"):  # its loader puts decoder norms into the latents
            z = z * latent_scale(sae)
        assert int((z != 0).sum()) > 0
        assert max_rel_diff(got["z"], z, x) <= 1e-5, name
        assert max_rel_diff(got["x_hat"], x_hat, x) <= 1e-5, name


# ---- transcoders (tests/peers/transcoder_peer.py) -------------------------------------------------------
def test_transcoders_compute_what_the_library_computes(peer_saes):
    out, cases = peer_saes
    mine = [c for c in cases if c["name"].startswith("transcoder_")]
    assert len(mine) == 6
    for case in mine:
        sae = load_sae(case["spec"])
        c = sae.cfg
        assert (c.arch, c.skip, c.hook, c.target_hooks, c.d_out) == (
            case["arch"], case["skip"], case["hook"], (case["target"],), case["d_out"]), case["name"]
        exp = load_file(str(out / case["expected"]))
        x = exp["x"]
        with torch.no_grad():
            z = sae.encode(x)
            y_hat = sae.decode(z, x)
            forward = sae(x)
        assert int((exp["z"] != 0).sum()) > 0, case["name"]
        assert max_rel_diff(z, exp["z"], x) <= 1e-5, case["name"]
        assert max_rel_diff(y_hat, exp["x_hat"], x) <= 1e-5, case["name"]
        assert max_rel_diff(forward, exp["x_hat"], x) <= 1e-5, case["name"]


def make_transcoder(arch: str, skip: bool, d_out: int, seed: int) -> SAE:
    from saekit.sae import SAEConfig

    cfg = SAEConfig(arch=arch, d_in=16, d_sae=64, k=4 if arch in ("topk", "batchtopk", "matryoshka") else None,
                    norm_scale=0.37, target_scale=1.9, hook="blocks.1.ln2.hook_normalized",
                    target_hooks=("blocks.1.hook_mlp_out",), d_out=d_out, skip=skip, model_id="random:gpt2")
    sae = SAE.create(cfg, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        if arch in ("batchtopk", "matryoshka"):
            sae.threshold.fill_(0.2)
    return sae


TRANSCODER_EXPORTS = [("saelens", arch, skip, 12) for arch in ("relu", "jumprelu", "batchtopk", "matryoshka")
                      for skip in (False, True)] + [("sparsify", "topk", skip, 16) for skip in (False, True)]


def test_every_transcoder_export_opens_in_the_library_with_the_same_function(tmp_path):
    peer_python()
    x = torch.randn(48, 16, generator=torch.Generator().manual_seed(3)) * 2.0
    save_file({"x": x}, str(tmp_path / "x.safetensors"))
    jobs, saes = [], {}
    for i, (fmt, arch, skip, d_out) in enumerate(TRANSCODER_EXPORTS):
        sae = make_transcoder(arch, skip, d_out, seed=i + 5)
        name = f"{fmt}_{arch}_{skip}"
        export_sae(sae, fmt, tmp_path / name)
        back = load_sae(f"{fmt}:{tmp_path / name}")
        assert (back.cfg.target_hooks, back.cfg.skip) == (sae.cfg.target_hooks, skip), name
        saes[name] = sae
        jobs.append({"name": name, "format": fmt, "path": str(tmp_path / name), "transcoder": True,
                     "inputs": str(tmp_path / "x.safetensors"), "out": str(tmp_path / f"{name}.out.safetensors")})
    for arch in ("topk", "gated"):
        with pytest.raises(SaekitError, match=f"cannot export a {arch} transcoder SAE to saelens"):
            export_sae(make_transcoder(arch, False, 12, seed=1), "saelens", tmp_path / f"refused_{arch}")
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    run_peer("outputs", str(tmp_path / "jobs.json"))
    for name, sae in saes.items():
        got = load_file(str(tmp_path / f"{name}.out.safetensors"))
        with torch.no_grad():
            z, y_hat = sae.encode(x), sae(x)
        assert int((z != 0).sum()) > 0
        assert max_rel_diff(got["z"], z, x) <= 1e-5, name
        assert max_rel_diff(got["x_hat"], y_hat, x) <= 1e-5, name
