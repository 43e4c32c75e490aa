"""Core metrics and CE loss recovered equal SAELens': sae_lens.evals.run_evals scores a SAELens TopK SAE
spliced into a HookedTransformer (tests/peers/saelens_core.py); saekit loads the same SAE file and the
same GPT-2 weights (hf:DIR) and computes its core metrics and downstream fidelity on the same texts."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from saekit.eval.core import core_metrics
from saekit.eval.downstream import evaluate_downstream
from saekit.eval.encode import encode_rows
from saekit.eval.rows import EvalRows, SplitInfo
from saekit.models import load_model
from saekit.models.random_models import tiny_gpt2_hf
from saekit.models.tiny_tokenizer import byte_tokenizer
from saekit.sae import load_sae, SAE
from test_absorption_saebench import run_reference

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("saelens_core")
    tiny_gpt2_hf().save_pretrained(d / "model")
    byte_tokenizer(model_max_length=128).save_pretrained(d / "model")
    rng = np.random.default_rng(4)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "far", "away"]
    texts = []
    while len(texts) < 6:
        t = " ".join(rng.choice(words, 20))[:48]
        texts.append(t.ljust(48, "."))
    (d / "texts.json").write_text(json.dumps(texts))
    run_reference("saelens_core.py", d)
    return d, texts, json.loads((d / "reference.json").read_text())


def test_core_metrics_equal_saelens(reference, one_torch_thread):
    d, texts, ref = reference
    model = load_model(f"hf:{d / 'model'}")
    sae = load_sae(f"saelens:{d / 'sae'}")
    inputs = model.tokenize(texts)
    assert inputs["input_ids"].tolist() == ref["tokens"]
    acts = model.capture(inputs, [HOOK])[HOOK]
    keep = ~torch.isin(inputs["input_ids"], torch.tensor(model.special_token_ids))  # SAELens leaves out BOS
    sample, pos = keep.nonzero(as_tuple=True)
    rows = EvalRows(HOOK, acts[keep].float().numpy(), sample.numpy(), pos.numpy(), SplitInfo("all", 0.0, ""))
    core = core_metrics(encode_rows(sae, rows), rows.n_rows, sae.cfg.d_in)
    assert core["l0"] == pytest.approx(ref["l0"], rel=1e-5, abs=1e-6)
    assert core["fve"] == pytest.approx(ref["explained_variance"], rel=1e-5, abs=1e-6)
    assert core["fve_per_token"] == pytest.approx(ref["explained_variance_legacy"], rel=1e-5, abs=1e-6)  # one batch
    assert core["cosine"] == pytest.approx(ref["cossim"], rel=1e-5, abs=1e-6)
    assert core["l2_ratio"] == pytest.approx(ref["l2_ratio"], rel=1e-5, abs=1e-6)
    assert core["mse"] * sae.cfg.d_in == pytest.approx(ref["mse"], rel=1e-5)  # SAELens sums over dimensions
    assert core["dead_frac"] == ref["dead_frac"]
    assert 0 < core["dead_frac"] < 1 and np.isfinite(core["fve"])


def test_ce_loss_score_equals_saelens(reference, one_torch_thread):
    d, texts, ref = reference
    model = load_model(f"hf:{d / 'model'}")
    sae = load_sae(f"saelens:{d / 'sae'}")
    res = evaluate_downstream(sae, model, [SimpleNamespace(text=t, source=str(i)) for i, t in enumerate(texts)],
                              batch_size=4)
    for mine, theirs in (("ce_clean", "ce_loss_without_sae"), ("ce_sae", "ce_loss_with_sae"),
                         ("ce_zero_ablation", "ce_loss_with_ablation"), ("ce_loss_score", "ce_loss_score"),
                         ("kl_div_with_sae", "kl_div_with_sae"), ("kl_div_with_ablation", "kl_div_with_ablation"),
                         ("kl_div_score", "kl_div_score")):
        assert res[mine] == pytest.approx(ref[theirs], rel=1e-4, abs=1e-6), mine
    # saekit's variant splices BOS too (the SAE of an all-token store saw it), so it reads differently
    assert res["ce_loss_recovered_kept_tokens"] != pytest.approx(res["ce_loss_score"], abs=1e-6)


def test_core_metrics_of_a_saekit_sae_equal_saelens_on_its_export(tmp_path, one_torch_thread):
    """A saekit TopK SAE with an input scale, exported to SAELens (hook name kept, scale folded in), scored by
    SAELens' run_evals over the same activations (tests/peers/saelens_core.py acts)."""
    from saekit.sae import SAEConfig
    from saekit.sae.formats import export_sae

    gen = torch.Generator().manual_seed(3)
    sae = SAE.create(SAEConfig(arch="topk", d_in=16, d_sae=64, k=4, hook="blocks.2.hook_resid_post",
                               normalization="scale", norm_scale=0.5))
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(64, generator=gen) * 0.1)
        sae.b_dec.copy_(torch.randn(16, generator=gen) * 0.1)
    acts = (torch.randn(300, 16, generator=gen) * 2 + 0.3).numpy()
    export_sae(sae, "saelens", tmp_path / "sae")
    np.save(tmp_path / "acts.npy", acts)
    run_reference("saelens_core.py", tmp_path, "acts")
    ref = json.loads((tmp_path / "reference.json").read_text())
    rows = EvalRows("blocks.2.hook_resid_post", acts, np.arange(300), np.zeros(300, int), SplitInfo("all", 0.0, ""))
    core = core_metrics(encode_rows(sae, rows), rows.n_rows, sae.cfg.d_in)
    for mine, theirs in (("l0", "l0"), ("fve", "explained_variance"), ("fve_per_token", "explained_variance_legacy"),
                         ("cosine", "cossim"), ("l2_ratio", "l2_ratio"), ("dead_frac", "dead_frac")):
        assert core[mine] == pytest.approx(ref[theirs], rel=1e-5, abs=1e-6), mine
    assert core["mse"] * sae.cfg.d_in == pytest.approx(ref["mse"], rel=1e-5)
