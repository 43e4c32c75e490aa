"""The ConceptScope backend for a saekit vision model + SAE + text space.

- pixels: the model's own resize / centre-crop, kept in [0, 1] so masks multiply raw pixels (the
  paper masks the image, not the normalised tensor); the model's mean / std are applied afterwards.
- encode: capture the SAE's hook, encode every token, image-level activation = mean over the tokens the
  SAE was trained on (cfg.tokens: all / patches / nonspecial / cls), patch maps from the patch tokens.
- embed / encode_texts: the model's own text space when it has one (CLIP image and text embeddings),
  else a TextSpace (saekit.analysis.alignment) fitted for the encoder: image_to_text(pooled features).
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from saekit.errors import SaekitError

log = logging.getLogger(__name__)


class ModelBackend:
    """AuditBackend over `model` (saekit.models.HookedModel, vision), `sae` (saekit.SAE) and an
    optional `text_space` (anything with image_to_text(features) and encode_texts(texts))."""

    def __init__(self, model: Any, sae: Any, text_space: Any = None, hook: str | None = None, tokens: str | None = None,
                 text_tokens: str = "all"):
        from saekit.models.preprocess import ImagePreprocessor

        cfg = sae.cfg
        self.model, self.sae, self.text_space = model, sae, text_space
        if getattr(model, "modality", "") not in ("image", "image-text"):
            raise SaekitError(f"the audit needs an image model; {getattr(model, 'model_id', model)} is "
                              f"{getattr(model, 'modality', '?')!r}")
        self.hook = hook or cfg.hook
        if not self.hook:
            raise SaekitError("the SAE's config names no hook; pass --hook (the hook it was trained on)")
        if hook and cfg.hook and hook != cfg.hook:
            raise SaekitError(f"the SAE was trained on hook {cfg.hook!r}, not {hook!r}; audit with the SAE's own hook")
        if cfg.model_id and getattr(model, "model_id", "") and cfg.model_id != model.model_id:
            raise SaekitError(f"the SAE was trained on activations of {cfg.model_id!r}, not {model.model_id!r}; "
                              "pass the model it was trained on")
        if self.hook not in model.hook_names() and not self.hook.startswith("module:"):
            raise SaekitError(f"the SAE's hook {self.hook!r} is not a hook of {model.model_id} "
                              "(the SAE was trained on another model or hook)")
        site = model.resolve(self.hook)
        if site.pooled:
            raise SaekitError(f"hook {self.hook!r} gives one vector per image; ConceptScope needs an SAE on patch "
                              "tokens (blocks.{i}.hook_resid_post, ...) to build concept masks")
        if getattr(site, "tower", "vision") != "vision":
            raise SaekitError(f"hook {self.hook!r} is on the text tower; the audit needs a vision hook")
        self.tokens = tokens or cfg.tokens or "all"
        if self.tokens == "cls":
            raise SaekitError("this SAE was trained on CLS tokens only; ConceptScope needs patch-token "
                              "activations for its concept masks (train the SAE with --tokens patches or all)")
        prep = ImagePreprocessor.coerce(getattr(model, "preprocess", None) or model.preprocessing)
        self._prep01 = ImagePreprocessor(size=prep.size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                                         resize=prep.resize, resample=prep.resample)
        dev, dt = model.device, model.dtype
        self._mean = torch.tensor(prep.mean, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(prep.std, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        self._dtype = dt
        self.d_sae = int(cfg.d_sae)
        self.grid = tuple(model.patch_grid)
        self._has_own_text = getattr(model, "modality", "") == "image-text" and hasattr(model, "embed_texts")
        if text_space is not None and getattr(text_space, "kind", "") == "clip":
            # a CLIP text space is the model's own embeddings: same as no text space for a CLIP model
            if getattr(text_space, "model", None) is not model and not self._has_own_text:
                raise SaekitError("a CLIP text space only works with that CLIP model as --model")
            text_space = None
            self.text_space = None
        self._text_hook = getattr(text_space, "feature_hook", None) if text_space is not None else None
        self._text_pooling = getattr(text_space, "pooling", "mean") if text_space is not None else "mean"
        self._text_tokens = text_tokens
        if self._text_hook:
            model.resolve(self._text_hook)  # unknown hook: one clear line now, not mid-audit
        if text_space is None and not self._has_own_text:
            raise SaekitError(f"{model.model_id} has no text tower: pass --text-space DIR (a text space fitted "
                              "with `saekit align`) so class names can be compared with images")

    @property
    def text_space_kind(self) -> str:
        return "fitted" if self.text_space is not None else "model"

    # ---- AuditBackend --------------------------------------------------------------------------
    def pixels(self, images: Sequence[Any]) -> torch.Tensor:
        return self._prep01(list(images)).to(self.model.device)

    def _inputs(self, px_B3HW: torch.Tensor) -> dict[str, torch.Tensor]:
        pv = (px_B3HW.to(self.model.device, torch.float32) - self._mean) / self._std
        return {"pixel_values": pv.to(self._dtype)}

    @torch.no_grad()
    def encode(self, px_B3HW: torch.Tensor, latents: np.ndarray | None = None):
        inputs = self._inputs(px_B3HW)
        acts_BTd = self.model.capture(inputs, [self.hook])[self.hook]
        B, T, d = acts_BTd.shape
        if d != self.sae.cfg.d_in:
            raise SaekitError(f"the SAE expects d_in={self.sae.cfg.d_in} but hook {self.hook!r} of "
                              f"{self.model.model_id} has d={d} (SAE trained on another model or hook)")
        sel_BT = self.model.token_mask(inputs, self.tokens, self.hook).to(acts_BTd.device)
        sae_dev = next(self.sae.parameters()).device
        z_BTD = self.sae.encode(acts_BTd.reshape(B * T, d).to(sae_dev, torch.float32)).reshape(B, T, -1).float()
        w = sel_BT.to(z_BTD.device, torch.float32)
        image_BD = (z_BTD * w.unsqueeze(-1)).sum(dim=1) / w.sum(dim=1, keepdim=True).clamp_min(1.0)
        maps = None
        if latents is not None:
            patches = self.model.token_mask(inputs, "patches", self.hook)[0].nonzero().flatten().to(z_BTD.device)
            gh, gw = self.grid
            if len(patches) != gh * gw:
                raise SaekitError(f"{self.model.model_id}: {len(patches)} patch tokens do not fill the {gh}x{gw} grid")
            idx = torch.as_tensor(np.asarray(latents, dtype=np.int64), device=z_BTD.device)
            maps = z_BTD[:, patches][:, :, idx].transpose(1, 2).reshape(B, len(idx), gh, gw)
        return image_BD, maps

    @torch.no_grad()
    def features(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        return self.model.forward(self._inputs(px_B3HW)).float()

    def logits(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        return self.features(px_B3HW)

    @torch.no_grad()
    def _text_features(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        """The features the fitted map was trained on: its hook's tokens pooled like its store's rows."""
        if not self._text_hook:
            return self.features(px_B3HW)
        inputs = self._inputs(px_B3HW)
        acts_BTd = self.model.capture(inputs, [self._text_hook])[self._text_hook].float()
        if self._text_pooling == "first" or acts_BTd.shape[1] == 1:
            return acts_BTd[:, 0]
        w = self.model.token_mask(inputs, self._text_tokens, self._text_hook).to(acts_BTd.device, torch.float32)
        return (acts_BTd * w.unsqueeze(-1)).sum(dim=1) / w.sum(dim=1, keepdim=True).clamp_min(1.0)

    @torch.no_grad()
    def embed(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        if self.text_space is None:
            feats = self.features(px_B3HW)
        else:
            feats = self._text_features(px_B3HW)
            feats = torch.as_tensor(np.asarray(self.text_space.image_to_text(feats.cpu().numpy())), dtype=torch.float32)
        return F.normalize(feats.float(), dim=-1).to(self.model.device)

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        if self.text_space is not None:
            emb = torch.as_tensor(np.asarray(self.text_space.encode_texts(list(texts))), dtype=torch.float32)
        else:
            emb = self.model.embed_texts(list(texts)).float()
        return F.normalize(emb, dim=-1).to(self.model.device)
