"""Steering the real SmolLM2-135M (offline:smollm2-135m): a planted "unembedding" latent changes greedy
generation and raises the concept's log-probability monotonically with strength."""
from __future__ import annotations

import pytest
import torch

from saekit.analysis import steering as st
from saekit.sae import SAE, SAEConfig

HOOK = "ln_final.hook_normalized"


@pytest.mark.slow
def test_smollm2_generation_and_concept_logprob_shift():
    from saekit.data import Sample
    from saekit.models import load_model

    m = load_model("offline:smollm2-135m", device="cpu")
    concept = "ocean"
    tok_id = m.tokenizer(" " + concept, add_special_tokens=False)["input_ids"][0]
    W_U = m.bridge.W_U.detach().float()                                   # [d, vocab]
    direction = W_U[:, tok_id] - W_U.mean(1)
    sae = SAE.create(SAEConfig(arch="relu", d_in=W_U.shape[0], d_sae=16, hook=HOOK, normalization="none"), seed=0)
    with torch.no_grad():
        sae.W_dec[0] = direction / direction.norm()
        sae.W_encT[0] = sae.W_dec[0]
    prompt = "My favourite place to spend the summer is the"
    inputs = m.prepare([Sample(0, "p", text=prompt)])
    res = st.dose_response(m, HOOK, sae, 0, inputs, strengths=[0, 4, 8], mode="add", value=1.0,
                           effect_fn=lambda: st.concept_logprob(m, [prompt], concept), effect_name="log p(ocean)")
    assert res.monotonic() and res.rows[-1].delta > res.rows[1].delta > 0
    plain = st.greedy_generate(m, prompt, max_new_tokens=4)
    with st.steer(m, HOOK, sae, {0: 1.0}, mode="add", strength=8.0):
        steered = st.greedy_generate(m, prompt, max_new_tokens=4)
    assert steered != plain and concept in steered.lower()
