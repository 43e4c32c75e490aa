"""Hugging Face ViT / DINOv2 / CLIP (vision tower, text tower, projections) behind TransformerLens hook names.

Hook names, per tower (the CLIP text tower's names carry a `text.` prefix):

    blocks.{i}.hook_resid_pre    input of encoder layer i            pre-hook on the layer     writable
    blocks.{i}.hook_resid_mid    residual after attention             pre-hook on the 2nd norm  read-only
    blocks.{i}.hook_attn_out     what attention adds to the residual  post-hook (after layer scale) writable
    blocks.{i}.hook_mlp_in       the MLP block's input, before its norm  pre-hook on the 2nd norm  writable
    blocks.{i}.ln2.hook_normalized  the MLP's input                   post-hook on the 2nd norm writable
    blocks.{i}.hook_mlp_out      what the MLP adds to the residual    post-hook (after layer scale) writable
    blocks.{i}.mlp.hook_post     MLP hidden after the activation      pre-hook on fc2           writable
    blocks.{i}.attn.hook_pattern attention weights [B, H, T, T]       output of the attention   read-only
    blocks.{i}.hook_resid_post   output of encoder layer i            post-hook on the layer    writable
    ln_final.hook_normalized     final LayerNorm (CLIP vision: the pooled CLS, [B, 1, d])      writable
    image_embeds / text_embeds   CLIP projections, [B, 1, d_proj]                               writable

resid_mid is read-only because HF layers add the attention output to the residual inline: the value
is observed at the input of the second LayerNorm, and changing it there would only change what the
MLP sees, not the residual stream. Attention patterns are only materialised by eager attention,
which capture switches on for the call that asks for them.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import torch
from torch import nn

from saekit.common.errors import SaekitError
from saekit.models.base import HookSite, HookedModel, ModuleOutput, check_selection, post_site, pre_site
from saekit.models.preprocess import ImageInput, ImagePreprocessor

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from saekit.data import Sample

log = logging.getLogger(__name__)

_BACKBONES = ("vision_model", "vit", "dinov2", "")
_LAYER_LISTS = ("layers", "encoder.layer", "encoder.layers")
_ATTN = ("attention", "self_attn", "attn")
_NORM2 = ("layernorm_after", "norm2", "layer_norm2", "ln_2")
_MLP_OUT = ("mlp.fc2", "output.dense", "mlp.down_proj")
# what each sub-block adds to the residual: DINOv2's layer scale comes after the MLP / attention;
# ViT's MLP ends in output.dense (ViTOutput then adds the residual inline)
_MLP_ADDED = ("layer_scale2", "mlp", "output.dense")
_ATTN_ADDED = ("layer_scale1", "attention", "self_attn", "attn")
_READ_ONLY_MID = ("HF layers add the attention output to the residual inline, so resid_mid is observed "
                  "at the input of the second LayerNorm and cannot be written back")
_READ_ONLY_PATTERN = "attention weights are an output of the attention, not an input to anything hookable"


def _sub(module: nn.Module, path: str) -> nn.Module | None:
    if not path:
        return module
    try:
        return module.get_submodule(path)
    except AttributeError:
        return None


def _first_sub(module: nn.Module, paths: Sequence[str]) -> tuple[str, nn.Module] | tuple[None, None]:
    for path in paths:
        found = _sub(module, path)
        if found is not None:
            return path, found
    return None, None


@dataclass
class _Tower:
    name: str                         # "vision" | "text"
    prefix: str                       # "" or "text."
    path: str                         # dotted path of the tower inside the root module
    layers: list[nn.Module]
    final_norm: nn.Module | None
    final_pooled: bool
    projection: nn.Module | None
    projection_hook: str
    sites: dict[str, HookSite] = field(default_factory=dict)

    def build_sites(self) -> None:
        for i, layer in enumerate(self.layers):
            p = f"{self.prefix}blocks.{i}."
            self.sites[p + "hook_resid_pre"] = pre_site(layer, self.name)
            _, norm2 = _first_sub(layer, _NORM2)
            if norm2 is not None:
                self.sites[p + "hook_resid_mid"] = pre_site(norm2, self.name, writable=False, reason=_READ_ONLY_MID)
                self.sites[p + "hook_mlp_in"] = pre_site(norm2, self.name)
                self.sites[p + "ln2.hook_normalized"] = post_site(norm2, self.name)
            _, attn_added = _first_sub(layer, _ATTN_ADDED)
            if attn_added is not None:
                self.sites[p + "hook_attn_out"] = post_site(attn_added, self.name)
            _, mlp_added = _first_sub(layer, _MLP_ADDED)
            if mlp_added is not None:
                self.sites[p + "hook_mlp_out"] = post_site(mlp_added, self.name)
            _, mlp_out = _first_sub(layer, _MLP_OUT)
            if mlp_out is not None:
                self.sites[p + "mlp.hook_post"] = pre_site(mlp_out, self.name)
            _, attn = _first_sub(layer, _ATTN)
            if attn is not None:
                self.sites[p + "attn.hook_pattern"] = HookSite(
                    attn, "post", self.name, _attention_weights_of, None, needs_eager_attention=True,
                    read_only_reason=_READ_ONLY_PATTERN)
            self.sites[p + "hook_resid_post"] = post_site(layer, self.name)
        if self.final_norm is not None:
            self.sites[self.prefix + "ln_final.hook_normalized"] = post_site(self.final_norm, self.name, pooled=self.final_pooled)
        if self.projection is not None:
            self.sites[self.projection_hook] = post_site(self.projection, self.name, pooled=True)

    def attention_modules(self) -> list[nn.Module]:
        return [m for layer in self.layers for m in [_first_sub(layer, _ATTN)[1]] if m is not None]


def _attention_weights_of(out: ModuleOutput) -> torch.Tensor | None:
    if isinstance(out, (tuple, list)) and len(out) > 1:
        return out[1]
    return None


def _find_tower(root: nn.Module, name: str, backbones: Sequence[str], final_norms: Sequence[str],
                projection: str | None, projection_hook: str, prefix: str) -> _Tower | None:
    for bb in backbones:
        tower = _sub(root, bb)
        if tower is None:
            continue
        _, layers = _first_sub(tower, _LAYER_LISTS)
        if layers is None or not isinstance(layers, nn.ModuleList):
            continue
        npath, norm = _first_sub(tower, final_norms)
        proj = _sub(root, projection) if projection else None
        return _Tower(name=name, prefix=prefix, path=bb, layers=list(layers), final_norm=norm,
                      final_pooled=npath == "post_layernorm", projection=proj, projection_hook=projection_hook)
    return None


class HFVisionModel(HookedModel):
    """Adapter for an already-loaded HF ViT / DINOv2 / CLIP model.

    HFVisionModel(hf_model, preprocess, model_id, revision="", tokenizer=None, max_length=None)
      hf_model:   ViTModel, ViTForImageClassification, Dinov2Model (also with registers or a head),
                  CLIPVisionModel(WithProjection) or CLIPModel; moved to eval mode, device unchanged.
      preprocess: ImagePreprocessor (or a dict / object with size, mean, std[, resize, resample]).
      tokenizer:  for CLIPModel's text tower (its output must end every sequence with EOS).
    """

    def __init__(self, hf_model: nn.Module, preprocess: object, model_id: str, revision: str = "",
                 tokenizer: PreTrainedTokenizerBase | None = None, max_length: int | None = None):
        self.module = hf_model.eval()
        self.model_id = model_id
        self.revision = revision or ""
        self.preprocess = ImagePreprocessor.coerce(preprocess)
        self.preprocessing = self.preprocess.as_dict()
        cfg = hf_model.config
        vcfg = getattr(cfg, "vision_config", None) or cfg
        vision = _find_tower(hf_model, "vision", _BACKBONES, ("layernorm", "post_layernorm", "norm"),
                             "visual_projection" if _sub(hf_model, "visual_projection") is not None else None,
                             "image_embeds", "")
        if vision is None:
            raise SaekitError(f"{model_id}: {type(hf_model).__name__} has no encoder layer list the vision adapter knows")
        vision.build_sites()
        self.towers: dict[str, _Tower] = {"vision": vision}
        text_root = _sub(hf_model, "text_model")
        if text_root is not None:
            text = _find_tower(hf_model, "text", ("text_model",), ("final_layer_norm",),
                               "text_projection" if _sub(hf_model, "text_projection") is not None else None,
                               "text_embeds", "text.")
            if text is not None:
                text.build_sites()
                self.towers["text"] = text
        self.tokenizer = tokenizer
        if tokenizer is not None and "text" in self.towers:
            tcfg = getattr(cfg, "text_config", None)
            self.max_length = max_length or int(getattr(tcfg, "max_position_embeddings", 77))
        self.modality = "image-text" if ("text" in self.towers and tokenizer is not None) else "image"
        self.n_layers = len(vision.layers)
        self.d_model = int(vcfg.hidden_size)
        self.patch_size = int(vcfg.patch_size)
        self.image_size = self.preprocess.size
        if self.image_size % self.patch_size:
            raise SaekitError(f"{model_id}: image size {self.image_size} is not a multiple of the patch size {self.patch_size}")
        g = self.image_size // self.patch_size
        self.patch_grid = (g, g)
        self.n_prefix_tokens = 1 + int(getattr(vcfg, "num_register_tokens", 0) or 0)
        self._config_image_size = int(getattr(vcfg, "image_size", self.image_size))
        self._sites = {k: v for t in self.towers.values() for k, v in t.sites.items()}
        self._is_clip = hasattr(hf_model, "get_image_features") and "text" in self.towers

    # ---- hooks ---------------------------------------------------------------------------

    def with_image_size(self, size: int) -> "HFVisionModel":
        """The same weights fed `size` x `size` images (position embeddings are interpolated)."""
        import dataclasses

        return HFVisionModel(self.module, dataclasses.replace(self.preprocess, size=size, resize=None),
                             self.model_id, self.revision, self.tokenizer, getattr(self, "max_length", None))
    def hook_names(self) -> list[str]:
        return list(self._sites)

    def _canonical_site(self, hook: str) -> HookSite | None:
        return self._sites.get(hook)

    def default_tower(self, inputs: Mapping[str, torch.Tensor] | None = None) -> str:
        if inputs is not None and "pixel_values" not in inputs and "input_ids" in inputs:
            return "text"
        return "vision"

    def _tower_of_module(self, path: str, inputs: Mapping[str, torch.Tensor] | None) -> str:
        if "text" in self.towers and (path.startswith("text_model") or path.startswith("text_projection")):
            return "text"
        return "vision"

    @contextlib.contextmanager
    def _attention_weights(self, needed: bool) -> Iterator[None]:
        if not needed:
            yield
            return
        configs = {id(m.config): m.config for t in self.towers.values() for m in t.attention_modules()
                   if getattr(m, "config", None) is not None}
        saved = {k: c._attn_implementation for k, c in configs.items()}
        try:
            for c in configs.values():
                c._attn_implementation = "eager"
            yield
        finally:
            for k, c in configs.items():
                c._attn_implementation = saved[k]

    # ---- running -------------------------------------------------------------------------
    def _vision_kwargs(self, pixel_values: torch.Tensor, fn: object) -> dict[str, object]:
        kwargs: dict[str, object] = {"pixel_values": pixel_values}
        if self.image_size != self._config_image_size:
            try:
                target = fn.forward if isinstance(fn, nn.Module) else fn  # a Module's own signature is (*args, **kwargs)
                if "interpolate_pos_encoding" in inspect.signature(target).parameters:
                    kwargs["interpolate_pos_encoding"] = True
            except (TypeError, ValueError):
                pass
        return kwargs

    def _run(self, inputs: Mapping[str, torch.Tensor], tower: str) -> ModuleOutput:
        if tower == "text":
            if "input_ids" not in inputs:
                raise SaekitError(f"{self.model_id}: text hooks need text inputs (samples with text)")
            fn = self.module.get_text_features if self._is_clip else self.module
            return fn(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
        if "pixel_values" not in inputs:
            raise SaekitError(f"{self.model_id}: vision hooks need image inputs (samples with images)")
        fn = self.module.get_image_features if self._is_clip else self.module
        return fn(**self._vision_kwargs(inputs["pixel_values"], fn))

    @staticmethod
    def _output_tensor(out: ModuleOutput) -> torch.Tensor:
        if isinstance(out, torch.Tensor):
            return out
        for key in ("logits", "image_embeds", "text_embeds", "pooler_output"):
            value = getattr(out, key, None)
            if isinstance(value, torch.Tensor):
                return value
        return out.last_hidden_state[:, 0]

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Class logits [B, C] when the model has a head, CLIP image (or, for text-only inputs, text)
        embeddings [B, d_proj], otherwise the pooled output or the final CLS [B, d]."""
        with torch.no_grad():
            return self._output_tensor(self._run(inputs, self.default_tower(inputs)))

    def prepare(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        images = [s.image for s in samples]
        texts = [s.text for s in samples]
        inputs: dict[str, torch.Tensor] = {}
        if all(im is not None for im in images) and images:
            inputs["pixel_values"] = self.preprocess(images).to(self.device, self.dtype)
        if self.modality == "image-text" and all(t is not None for t in texts) and texts:
            inputs.update(self.tokenize(texts))
        if not inputs:
            what = "images" if self.modality == "image" else "images or texts"
            raise SaekitError(f"{self.model_id} needs {what}, but the samples have none (first: {samples[0].source!r})")
        return inputs

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        if self.tokenizer is None:
            raise SaekitError(f"{self.model_id} has no tokenizer for its text tower")
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": enc["input_ids"].to(self.device), "attention_mask": enc["attention_mask"].to(self.device)}

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """CLIP text embeddings [N, d_proj] (not normalised)."""
        with torch.no_grad():
            return self._output_tensor(self._run(self.tokenize(texts), "text"))

    def embed_images(self, images: Sequence[ImageInput]) -> torch.Tensor:

        """CLIP image embeddings [N, d_proj] / pooled vectors for encoders without a projection."""
        pixel_values = self.preprocess(images).to(self.device, self.dtype)
        with torch.no_grad():
            return self._output_tensor(self._run({"pixel_values": pixel_values}, "vision"))

    @property
    def n_tokens(self) -> int:
        return self.n_prefix_tokens + self.patch_grid[0] * self.patch_grid[1]

    def token_mask(self, inputs: Mapping[str, torch.Tensor], select: str, hook: str | None = None) -> torch.Tensor:
        """bool [B, T]. Vision: cls = token 0, patches = tokens after CLS and registers, nonspecial =
        patches. CLIP text: all = non-padding, cls = the EOS token CLIP pools, nonspecial = no BOS/EOS/PAD."""
        check_selection(select)
        if hook is not None:
            site = self.resolve(hook)
            tower = self._tower_for(hook, site, inputs)
            if site.pooled:
                n = next(iter(inputs.values())).shape[0] if tower == "text" else inputs["pixel_values"].shape[0]
                return torch.ones(n, 1, dtype=torch.bool, device=self.device)
        else:
            tower = self.default_tower(inputs)
        if tower == "text":
            return self._text_mask(inputs, select)
        n = inputs["pixel_values"].shape[0]
        pos = torch.arange(self.n_tokens, device=self.device).expand(n, -1)
        if select == "all":
            return torch.ones_like(pos, dtype=torch.bool)
        if select == "cls":
            return pos == 0
        return pos >= self.n_prefix_tokens

    def _text_mask(self, inputs: Mapping[str, torch.Tensor], select: str) -> torch.Tensor:
        ids, att = inputs["input_ids"], inputs["attention_mask"].bool()
        if select == "all":
            return att
        if select == "patches":
            raise SaekitError("--tokens patches is for images; use all, cls or nonspecial for text")
        tok = self.tokenizer
        if select == "cls":
            first_eos = (ids == tok.eos_token_id).int().argmax(dim=1)
            return torch.nn.functional.one_hot(first_eos, ids.shape[1]).bool() & att
        special = torch.tensor(sorted({i for i in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) if i is not None}),
                               device=ids.device)
        return att & ~torch.isin(ids, special)
