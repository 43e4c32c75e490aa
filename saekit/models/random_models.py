"""Tiny randomly initialised models built from transformers configs with a fixed seed.

They need no download, build in well under a second and are the same on every machine, so tests
and benchmarks can use them: `random:vit` (ViT with a 10-class head, 32 px, patch 8, 3 layers,
d=64), `random:vit-s` and `random:vit-b` (ViT-S/16 and ViT-B/16 shapes at 224 px, 12 layers, d=384 and
768; for benchmarks), `random:clip`
(CLIP with 2-layer vision and text towers and a byte tokenizer) and `random:gpt2` (3 layers, d=64,
through the TransformerBridge).
"""
from __future__ import annotations

from typing import Callable

import torch

from saekit.models.base import HookedModel
from saekit.models.preprocess import CLIP_MEAN, CLIP_STD, HALF, ImagePreprocessor

SEED = 0


def _seeded(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return build().eval()


def tiny_vit_hf(num_labels: int = 10):
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128,
                    image_size=32, patch_size=8, num_labels=num_labels)
    return _seeded(lambda: ViTForImageClassification(cfg))


def vit_s_hf():
    return _vit_hf(hidden=384, heads=6)


def vit_b_hf():
    """ViT-B/16 shape (d=768, 12 layers, 12 heads, 224 px): GPU capture benchmarks."""
    return _vit_hf(hidden=768, heads=12)


def _vit_hf(hidden: int, heads: int):
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(hidden_size=hidden, num_hidden_layers=12, num_attention_heads=heads, intermediate_size=4 * hidden,
                    image_size=224, patch_size=16)
    return _seeded(lambda: ViTModel(cfg, add_pooling_layer=False))


def tiny_clip_hf():
    from transformers import CLIPConfig, CLIPModel

    from saekit.models.tiny_tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

    cfg = CLIPConfig(
        text_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         vocab_size=VOCAB_SIZE, max_position_embeddings=64, bos_token_id=BOS_ID,
                         eos_token_id=EOS_ID, pad_token_id=PAD_ID),
        vision_config=dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
                           image_size=32, patch_size=8),
        projection_dim=16)
    return _seeded(lambda: CLIPModel(cfg))


def tiny_gpt2_hf():
    from transformers import GPT2Config, GPT2LMHeadModel

    from saekit.models.tiny_tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

    cfg = GPT2Config(n_layer=3, n_embd=64, n_head=4, vocab_size=VOCAB_SIZE, n_positions=128,
                     bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)
    model = _seeded(lambda: GPT2LMHeadModel(cfg))
    model.config.architectures = ["GPT2LMHeadModel"]
    return model


def load_random(name: str, device: torch.device) -> HookedModel:
    from saekit.models.hf_vision import HFVisionModel
    from saekit.models.tiny_tokenizer import byte_tokenizer
    from saekit.models.tl_lm import TLModel

    model_id = f"random:{name}"
    if name == "vit":
        return HFVisionModel(tiny_vit_hf().to(device), ImagePreprocessor(size=32, mean=HALF, std=HALF), model_id)
    if name in ("vit-s", "vit-b"):
        build = vit_s_hf if name == "vit-s" else vit_b_hf
        return HFVisionModel(build().to(device), ImagePreprocessor(size=224, mean=HALF, std=HALF), model_id)
    if name == "clip":
        return HFVisionModel(tiny_clip_hf().to(device), ImagePreprocessor(size=32, mean=CLIP_MEAN, std=CLIP_STD),
                             model_id, tokenizer=byte_tokenizer(append_eos=True, model_max_length=64), max_length=64)
    if name == "gpt2":
        return TLModel.from_hf(tiny_gpt2_hf().to(device), byte_tokenizer(model_max_length=128), model_id, max_length=128)
    raise KeyError(name)


RANDOM_NAMES = ("vit", "vit-s", "vit-b", "clip", "gpt2")
