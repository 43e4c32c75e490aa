"""Foreign SAE specs without the peer libraries: export -> load round trips of every architecture,
format detection, hub specs through the huggingface_hub cache, and one-line errors for bad input.

Compatibility with the real libraries is proven in test_interop_peers.py."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from saekit.cli.main import main
from saekit.common.errors import SaekitError
from saekit.sae import load_sae, SAE, SAEConfig
from saekit.sae.formats import EXPORTERS, detect, export_sae, work_dir
from saekit.sae.formats.dictlearn import latent_scale

ARCHS = ("relu", "topk", "batchtopk", "matryoshka", "jumprelu", "gated")
EXPORTABLE = {"saelens": set(ARCHS), "dictlearn": set(ARCHS), "sparsify": {"topk"}}


def make_sae(arch: str, seed: int = 1, normalization: str = "scale") -> SAE:
    cfg = SAEConfig(arch=arch, d_in=16, d_sae=64, k=4 if arch in ("topk", "batchtopk", "matryoshka") else None,
                    normalization=normalization, norm_scale=0.37, hook="blocks.1.hook_resid_post", model_id="random:gpt2")
    sae = SAE.create(cfg, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        sae.W_dec.div_(sae.W_dec.norm(dim=1, keepdim=True))  # saekit keeps unit-norm decoder rows
        if arch in ("batchtopk", "matryoshka"):
            sae.threshold.fill_(0.3)
    return sae


@torch.no_grad()
def assert_same_function(a: SAE, b: SAE, scale: float = 3.0, latent_scale: torch.Tensor | None = None) -> None:
    x = torch.randn(64, a.cfg.d_in, generator=torch.Generator().manual_seed(7)) * scale
    za, zb = a.encode(x), b.encode(x)
    tol = 1e-5 * float(x.abs().max())
    assert float((za * (1 if latent_scale is None else latent_scale) - zb).abs().max()) <= tol
    assert float((a.decode(za) - b.decode(zb)).abs().max()) <= tol
    assert int((za != 0).sum()) > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_export_then_load_gives_the_same_function(arch, tmp_path):
    sae = make_sae(arch)
    for fmt in EXPORTERS:
        out = tmp_path / fmt
        if arch not in EXPORTABLE[fmt]:
            with pytest.raises(SaekitError, match=f"cannot export a {arch} SAE to {fmt}"):
                export_sae(sae, fmt, out)
            assert not out.exists()
            continue
        export_sae(sae, fmt, out)
        assert detect(out, str(out)) == fmt
        loaded = load_sae(f"{fmt}:{out}")
        assert load_sae(str(out)).cfg == loaded.cfg
        assert loaded.cfg.hook == "blocks.1.hook_resid_post" and loaded.cfg.source["format"] == fmt
        scale = latent_scale(sae) if (fmt, arch) == ("dictlearn", "relu") else None
        assert_same_function(sae, loaded, latent_scale=scale)


def test_layernorm_saes_are_refused_and_nothing_is_written(tmp_path):
    sae = make_sae("topk", normalization="layernorm")
    with pytest.raises(SaekitError, match="normalization=layernorm"):
        export_sae(sae, "saelens", tmp_path / "o")
    assert not (tmp_path / "o").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(SaekitError, match="is not empty"):
        export_sae(make_sae("topk"), "saelens", tmp_path / "full")


def test_gated_training_step_reaches_every_parameter():
    sae = make_sae("gated")
    sae.train()
    from saekit.sae import TrainContext

    out = sae.training_step(torch.randn(32, 16), TrainContext())
    out.loss.backward()
    for name, p in sae.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def test_bad_specs_are_one_line_errors_with_exit_2(tmp_path, capsys, monkeypatch):
    good = tmp_path / "good"
    export_sae(make_sae("topk"), "saelens", good)

    both = tmp_path / "both"
    shutil.copytree(good, both)
    export_sae(make_sae("topk"), "dictlearn", tmp_path / "dl")
    for f in (tmp_path / "dl").iterdir():
        shutil.copy(f, both / f.name)

    missing = tmp_path / "missing"
    shutil.copytree(good, missing)
    w = load_file(str(good / "sae_weights.safetensors"))
    save_file({k: v for k, v in w.items() if k != "b_enc"}, str(missing / "sae_weights.safetensors"))
    shaped = tmp_path / "shaped"
    shutil.copytree(good, shaped)
    save_file({**w, "W_dec": torch.zeros(64, 15)}, str(shaped / "sae_weights.safetensors"))
    variant = tmp_path / "variant"
    shutil.copytree(good, variant)
    cfg = json.loads((good / "cfg.json").read_text())
    (variant / "cfg.json").write_text(json.dumps({**cfg, "architecture": "temporal"}))
    centred = tmp_path / "centred_transcoder"  # SAELens itself refuses to build this one
    shutil.copytree(good, centred)
    (centred / "cfg.json").write_text(json.dumps({**cfg, "architecture": "skip_transcoder", "d_out": 16,
                                                  "apply_b_dec_to_input": True}))
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "weights.bin").write_bytes(b"\0" * 8)

    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    cases = {
        f"zarr:{good}": "unknown format prefix 'zarr:'",
        str(both): "holds the files of several SAE formats \\(saelens, dictlearn\\)",
        str(missing): "missing tensor 'b_enc'",
        str(shaped): "tensor 'W_dec' has shape \\[64, 15\\], expected \\[64, 16\\]",
        str(variant): "SAELens architecture 'temporal' is not supported",
        str(centred): "a transcoder with apply_b_dec_to_input=true",
        str(unknown): "no known SAE format",
        str(tmp_path / "nowhere"): "does not exist",
        "saelens:hf:someone/missing-repo/layer_3": "cannot be fetched \\(HF_HUB_OFFLINE is set",
        f"sparsify:{good}": "sae.safetensors not found",
        f"dictlearn:{good}": "dictionary_learning config",
    }
    for spec, pattern in cases.items():
        with pytest.raises(SaekitError, match=pattern) as info:
            load_sae(spec)
        assert "\n" not in str(info.value), spec
        code, err = _cli(capsys, "export", "--sae", spec, "--format", "saelens", "--out", str(tmp_path / "x"))
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith("saekit export: error:"), (spec, err)
        assert not (tmp_path / "x").exists()
    # a prefix settles a folder that holds two formats
    assert load_sae(f"dictlearn:{both}").cfg.source["format"] == "dictlearn"


def _fake_hub_cache(home: Path, repo: str, files: dict[str, Path]) -> str:
    """huggingface_hub's cache layout (hub/models--owner--name/{refs/main, snapshots/<commit>/...})."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = home / "hub" / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    for rel, src in files.items():
        dst = root / "snapshots" / commit / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    return commit


def test_hub_specs_resolve_from_the_cache_offline(tmp_path, monkeypatch):
    src = tmp_path / "src"
    sae = make_sae("jumprelu")
    export_sae(sae, "saelens", src)
    home = tmp_path / "hf"
    _fake_hub_cache(home, "someone/saes", {f"blocks.1/{f.name}": f for f in src.iterdir()})
    import huggingface_hub.constants as hf_constants

    assert hf_constants.HF_HUB_OFFLINE  # conftest sets HF_HUB_OFFLINE=1 before huggingface_hub is imported
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(home / "hub"))  # read when huggingface_hub is imported
    monkeypatch.setenv("SAEKIT_CACHE", str(tmp_path / "cache"))
    loaded = load_sae("saelens:hf:someone/saes/blocks.1")
    assert_same_function(sae, loaded)
    assert loaded.cfg.source["path"] == "hf:someone/saes/blocks.1"
    again = load_sae("hf:someone/saes@main/blocks.1")  # format detected; a revision
    assert again.cfg.replace(source={}) == loaded.cfg.replace(source={})
    assert again.cfg.source["path"] == "hf:someone/saes@main/blocks.1"
    with pytest.raises(SaekitError, match="'blocks.9' does not exist in someone/saes"):
        load_sae("saelens:hf:someone/saes/blocks.9")
    wd = work_dir("saelens:hf:someone/saes/blocks.1")
    assert wd.parent == tmp_path / "cache" / "foreign"
    assert work_dir(str(src)) != src and work_dir(tmp_path / "saekit") != src
    sae.save(tmp_path / "saekit")
    assert work_dir(tmp_path / "saekit") == tmp_path / "saekit"
