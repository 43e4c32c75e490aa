"""Transcoders made, saved and run by the real SAELens and sparsify (imported by peer.py, in the peer venv).

Each case's expected outputs are the library's own: latents z = encode(x) and the transcoder's output
y_hat = forward(x) (the skip path included)."""
from __future__ import annotations

from pathlib import Path

import torch

D_OUT = 12  # SAELens transcoders may change width; sparsify's keep the input's


def saelens_transcoder_outputs(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    import sae_lens as sl

    sae = sl.SAE.load_from_disk(str(path))
    with torch.no_grad():
        return sae.encode(x), sae.forward(x)


def sparsify_transcoder_outputs(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from sparsify import SparseCoder

    sc = SparseCoder.load_from_disk(path)
    with torch.no_grad():
        top_acts, top_idx, _ = sc.encode(x)
        z = torch.zeros(x.shape[0], sc.num_latents).scatter_(1, top_idx, top_acts)
        return z, sc(x).sae_out


def transcoder_cases(out: Path, x: torch.Tensor, d_in: int, d_sae: int, k: int, rand, randomize,
                     write_expected) -> list[dict]:
    import sae_lens as sl
    from sae_lens.saes.sae import SAEMetadata
    from sparsify import SparseCoder, SparseCoderConfig

    cases = []
    meta = dict(hook_name="blocks.1.ln2.hook_normalized", hook_name_out="blocks.1.hook_mlp_out", model_name="gpt2")
    specs = (("transcoder", sl.Transcoder, sl.TranscoderConfig, "relu", False),
             ("skip_transcoder", sl.SkipTranscoder, sl.SkipTranscoderConfig, "relu", True),
             ("jumprelu_transcoder", sl.JumpReLUTranscoder, sl.JumpReLUTranscoderConfig, "jumprelu", False),
             ("jumprelu_skip_transcoder", sl.JumpReLUSkipTranscoder, sl.JumpReLUSkipTranscoderConfig, "jumprelu", True))
    for name, cls, cfg_cls, arch, skip in specs:
        sae = cls(cfg_cls(d_in=d_in, d_sae=d_sae, d_out=D_OUT, apply_b_dec_to_input=False,
                          metadata=SAEMetadata(**meta)))
        randomize(sae)
        if arch == "jumprelu":
            with torch.no_grad():
                sae.threshold.copy_(rand((d_sae,), 0.3).abs())
        path = out / f"transcoder_saelens_{name}"
        sae.save_model(path)
        z, y = saelens_transcoder_outputs(path, x)
        exp = write_expected(out, f"transcoder_saelens_{name}", x, z, y)
        cases.append({"name": f"transcoder_saelens_{name}", "spec": f"saelens:{path}", "expected": exp, "arch": arch,
                      "skip": skip, "hook": meta["hook_name"], "target": meta["hook_name_out"], "d_out": D_OUT})
    run = out / "transcoder_sparsify"
    for hookpoint, skip in (("layers.2.mlp", False), ("layers.3.mlp", True)):
        sc = SparseCoder(d_in, SparseCoderConfig(k=k, num_latents=d_sae, transcode=True, skip_connection=skip))
        randomize(sc)
        sc.save_to_disk(run / hookpoint)
        z, y = sparsify_transcoder_outputs(run / hookpoint, x)
        layer = hookpoint.split(".")[1]
        exp = write_expected(out, f"transcoder_sparsify_{hookpoint}", x, z, y)
        cases.append({"name": f"transcoder_sparsify_{hookpoint}", "spec": f"sparsify:{run / hookpoint}",
                      "expected": exp, "arch": "topk", "skip": skip, "hook": f"blocks.{layer}.ln2.hook_normalized",
                      "target": f"blocks.{layer}.hook_mlp_out", "d_out": d_in})
    return cases
