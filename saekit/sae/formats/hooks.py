"""Hook names of other libraries mapped to saekit's TransformerLens names.

Hugging Face module paths (sparsify, dictionary_learning) name a block's output, its MLP or its
attention: `layers.6` / `h.6` / `gpt_neox.layers.6` / `encoder.layer.6` -> blocks.6.hook_resid_post,
`layers.6.mlp` -> blocks.6.hook_mlp_out, `layers.6.self_attn` -> blocks.6.hook_attn_out. Anything else
becomes `module:<path>`, which saekit does not hook by itself but keeps for the record.
"""
from __future__ import annotations

import re

_BLOCK = r"(?:.*\.)?(?:layers|layer|h|blocks|block|resblocks)\.(\d+)"
_RULES = (
    (re.compile(_BLOCK + r"$"), "blocks.{}.hook_resid_post"),
    (re.compile(_BLOCK + r"\.(?:mlp|feed_forward|ffn)$"), "blocks.{}.hook_mlp_out"),
    (re.compile(_BLOCK + r"\.(?:self_attn|attn|attention)$"), "blocks.{}.hook_attn_out"),
)
_TL = re.compile(r"^(blocks\.\d+\.(hook_\w+|attn\.hook_\w+|mlp\.hook_\w+|ln\d\.hook_\w+)|hook_embed|hook_pos_embed)$")


def is_transformerlens(name: str) -> bool:
    return bool(_TL.match(name))


def from_module_path(path: str) -> str:
    """TransformerLens name for a Hugging Face module path, else `module:<path>`."""
    path = path.strip()
    if is_transformerlens(path):
        return path
    for rx, template in _RULES:
        m = rx.match(path)
        if m:
            return template.format(int(m.group(1)))
    return f"module:{path}"


def from_layer(layer: int | None, site: str = "") -> str:
    """A residual/MLP/attention output of block `layer` (dictionary_learning's layer + submodule name,
    saev's layer index). Negative or missing indices cannot be resolved without the model."""
    if layer is None or layer < 0:
        return f"module:layer[{layer}]" + (f".{site}" if site else "")
    s = site.lower()
    if "mlp" in s:
        return f"blocks.{layer}.hook_mlp_out"
    if "attn" in s or "attention" in s:
        return f"blocks.{layer}.hook_attn_out"
    return f"blocks.{layer}.hook_resid_post"
