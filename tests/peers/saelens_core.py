"""Run with the peer venv's python: SAELens' own evaluation (sae_lens.evals.run_evals) of a SAELens
TopK SAE spliced into a HookedTransformer, on the model and texts saekit's test wrote.

    python tests/peers/saelens_core.py DIR           # a tiny GPT-2, see below
    python tests/peers/saelens_core.py DIR acts      # DIR/acts.npy [n, d] and the SAELens SAE DIR/sae

DIR/model: a tiny GPT-2 saved by transformers, with its tokenizer; DIR/texts.json: texts of equal
token length (one batch, no padding). The HookedTransformer gets the same weights (TransformerLens'
GPT-2 conversion); the SAE (random, seeded) is saved to DIR/sae for saekit to load. Writes
DIR/reference.json: run_evals' metrics and the dead-latent fraction from its feature densities.
In the `acts` mode the model is a stand-in whose cache is the given activations (one batch, no
special tokens) and only the sparsity, variance, norm and density metrics run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

import sae_lens as sl
from sae_lens.evals import EvalConfig, run_evals
from sae_lens.saes.sae import SAEMetadata
from sae_lens.training.activation_scaler import ActivationScaler

HOOK = "blocks.1.hook_resid_post"


def hooked_gpt2(d: Path) -> HookedTransformer:
    hf = AutoModelForCausalLM.from_pretrained(d)
    h = hf.config
    cfg = HookedTransformerConfig(
        n_layers=h.n_layer, d_model=h.n_embd, n_heads=h.n_head, d_head=h.n_embd // h.n_head, d_mlp=4 * h.n_embd,
        d_vocab=h.vocab_size, n_ctx=h.n_positions, act_fn="gelu_new", normalization_type="LN",
        eps=h.layer_norm_epsilon, positional_embedding_type="standard", original_architecture="GPT2LMHeadModel",
        default_prepend_bos=False)
    model = HookedTransformer(cfg, tokenizer=AutoTokenizer.from_pretrained(d))
    model.load_and_process_state_dict(convert_gpt2_weights(hf, cfg), fold_ln=False, center_writing_weights=False,
                                      center_unembed=False, fold_value_biases=False,
                                      refactor_factored_attn_matrices=False)
    return model


class FixedTokens:
    """Stands in for SAELens' ActivationsStore: always the same batch of tokens."""

    def __init__(self, tokens: torch.Tensor):
        self.tokens = tokens
        self.store_batch_size_prompts = len(tokens)
        self.context_size = tokens.shape[1]

    def get_batch_tokens(self, n: int) -> torch.Tensor:
        return self.tokens[:n]

    def reset_input_dataset(self) -> None:
        pass


class CachedActs:
    """Stands in for the HookedTransformer: its cache at the SAE's hook is the given activations."""

    def __init__(self, acts: torch.Tensor):
        self.acts = acts
        self.tokenizer = None

    def run_with_cache(self, tokens, names_filter, **_kw):
        return None, {names_filter[0]: self.acts[None]}


def write(d: Path, metrics: dict, features: dict, **extra) -> None:
    density = torch.tensor(features["feature_density"])
    flat = {k: v for group in metrics.values() for k, v in group.items()}
    flat["dead_frac"] = float((density == 0).float().mean())
    (d / "reference.json").write_text(json.dumps({**flat, **extra}, indent=1))


def from_acts(d: Path) -> None:
    import numpy as np

    acts = torch.from_numpy(np.load(d / "acts.npy").astype(np.float32))
    sae = sl.SAE.load_from_disk(str(d / "sae"))
    cfg = EvalConfig(batch_size_prompts=1, n_eval_reconstruction_batches=0, n_eval_sparsity_variance_batches=1,
                     compute_l2_norms=True, compute_sparsity_metrics=True, compute_variance_metrics=True,
                     compute_featurewise_density_statistics=True)
    tokens = torch.full((1, len(acts)), 7, dtype=torch.long)  # one batch of rows; no special tokens among them
    metrics, features = run_evals(sae, FixedTokens(tokens), CachedActs(acts), ActivationScaler(), cfg,
                                  exclude_special_tokens=False)
    write(d, metrics, features)
    print("ok")


def main(d: Path) -> None:
    model = hooked_gpt2(d / "model")
    texts = json.loads((d / "texts.json").read_text())
    tokens = model.tokenizer(texts, return_tensors="pt")["input_ids"]
    d_in = model.cfg.d_model
    gen = torch.Generator().manual_seed(11)
    sae = sl.TopKSAE(sl.TopKSAEConfig(d_in=d_in, d_sae=4 * d_in, k=8, metadata=SAEMetadata(
        hook_name=HOOK, model_name="tiny-gpt2")))
    with torch.no_grad():
        w = torch.randn(sae.W_dec.shape, generator=gen)
        sae.W_dec.copy_(w / w.norm(dim=1, keepdim=True))
        sae.W_enc.copy_(sae.W_dec.T.clone())
        sae.b_enc.copy_(torch.randn(sae.b_enc.shape, generator=gen) * 0.1)
        sae.b_dec.copy_(torch.randn(sae.b_dec.shape, generator=gen) * 0.1)
    sae.save_model(d / "sae")
    sae = sl.SAE.load_from_disk(str(d / "sae"))
    cfg = EvalConfig(batch_size_prompts=len(tokens), n_eval_reconstruction_batches=1, compute_kl=True,
                     compute_ce_loss=True, n_eval_sparsity_variance_batches=1, compute_l2_norms=True,
                     compute_sparsity_metrics=True, compute_variance_metrics=True,
                     compute_featurewise_density_statistics=True)
    metrics, features = run_evals(sae, FixedTokens(tokens), model, ActivationScaler(), cfg)
    write(d, metrics, features, tokens=tokens.tolist())
    print("ok")


if __name__ == "__main__":
    torch.set_num_threads(1)
    (from_acts if sys.argv[2:] == ["acts"] else main)(Path(sys.argv[1]))
