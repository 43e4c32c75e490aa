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
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from PIL.Image import Image

    from saekit.analysis.alignment.text_space import TextSpace
    from saekit.models.base import HookedModel
    from saekit.sae import SAE

log = logging.getLogger(__name__)


class ModelBackend:
    """AuditBackend over `model` (saekit.models.HookedModel, vision), `sae` (saekit.SAE) and an
    optional `text_space` (anything with image_to_text(features) and encode_texts(texts))."""

    def __init__(self, model: HookedModel, sae: SAE, text_space: TextSpace | None = None, hook: str | None = None,
                 tokens: str | None = None, text_tokens: str = "all"):
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
    def pixels(self, images: Sequence[Image | None]) -> torch.Tensor:
        return self._prep01(list(images)).to(self.model.device)

    def _inputs(self, px_B3HW: torch.Tensor) -> dict[str, torch.Tensor]:
        pv = (px_B3HW.to(self.model.device, torch.float32) - self._mean) / self._std
        return {"pixel_values": pv.to(self._dtype)}

    def _sae_codes(self, acts_BTd: torch.Tensor) -> torch.Tensor:
        B, T, d = acts_BTd.shape
        if d != self.sae.cfg.d_in:
            raise SaekitError(f"the SAE expects d_in={self.sae.cfg.d_in} but hook {self.hook!r} of "
                              f"{self.model.model_id} has d={d} (SAE trained on another model or hook)")
        sae_dev = next(self.sae.parameters()).device
        return self.sae.encode(acts_BTd.reshape(B * T, d).to(sae_dev, torch.float32)).reshape(B, T, -1).float()

    def _patch_index(self, inputs: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
        patches = self.model.token_mask(inputs, "patches", self.hook)[0].nonzero().flatten().to(device)
        gh, gw = self.grid
        if len(patches) != gh * gw:
            raise SaekitError(f"{self.model.model_id}: {len(patches)} patch tokens do not fill the {gh}x{gw} grid")
        return patches

    def _image_level(self, inputs: dict[str, torch.Tensor], z_BTD: torch.Tensor) -> torch.Tensor:
        w = self.model.token_mask(inputs, self.tokens, self.hook).to(z_BTD.device, torch.float32)
        return (z_BTD * w.unsqueeze(-1)).sum(dim=1) / w.sum(dim=1, keepdim=True).clamp_min(1.0)

    def _maps(self, z_BPD: torch.Tensor, latents: np.ndarray) -> torch.Tensor:
        gh, gw = self.grid
        idx = torch.as_tensor(np.asarray(latents, dtype=np.int64), device=z_BPD.device)
        return z_BPD[:, :, idx].transpose(1, 2).reshape(len(z_BPD), len(idx), gh, gw)

    @torch.no_grad()
    def encode(self, px_B3HW: torch.Tensor, latents: np.ndarray | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        inputs = self._inputs(px_B3HW)
        acts_BTd = self.model.capture(inputs, [self.hook])[self.hook]
        z_BTD = self._sae_codes(acts_BTd)
        maps = None
        if latents is not None:
            maps = self._maps(z_BTD[:, self._patch_index(inputs, z_BTD.device)], latents)
        return self._image_level(inputs, z_BTD), maps

    @torch.no_grad()
    def encode_pass(self, px_B3HW: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One forward: (image-level activations, text-space embeddings, the hook's patch activations as the
        state `maps_from_state` rebuilds any latent's patch map from)."""
        inputs = self._inputs(px_B3HW)
        if self.text_space is not None and self._text_hook:
            got = self.model.capture(inputs, [self.hook, self._text_hook])
            acts_BTd = got[self.hook]
            emb = self._embed_features(self._pool_text(inputs, got[self._text_hook].float()))
        else:  # the text features are the model's output: one full forward that also records the SAE's hook
            seen: dict[str, torch.Tensor] = {}

            def grab(x: torch.Tensor) -> torch.Tensor:
                seen["acts"] = x.detach()
                return x

            if self.model.is_writable(self.hook):
                with self.model.hooks({self.hook: grab}):
                    feats = self.model.forward(inputs).float()
                acts_BTd = seen["acts"]
            else:
                feats = self.model.forward(inputs).float()
                acts_BTd = self.model.capture(inputs, [self.hook])[self.hook]
            emb = self._embed_features(feats)
        z_BTD = self._sae_codes(acts_BTd)
        state = acts_BTd[:, self._patch_index(inputs, acts_BTd.device)]
        return self._image_level(inputs, z_BTD), emb, state

    @torch.no_grad()
    def maps_from_state(self, state_BPd: torch.Tensor, latents: np.ndarray) -> torch.Tensor:
        return self._maps(self._sae_codes(state_BPd), latents)

    @torch.no_grad()
    def features(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        return self.model.forward(self._inputs(px_B3HW)).float()

    def logits(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        return self.features(px_B3HW)

    def _pool_text(self, inputs: dict[str, torch.Tensor], acts_BTd: torch.Tensor) -> torch.Tensor:
        """The features the fitted map was trained on: its hook's tokens pooled like its store's rows."""
        if self._text_pooling == "first" or acts_BTd.shape[1] == 1:
            return acts_BTd[:, 0]
        w = self.model.token_mask(inputs, self._text_tokens, self._text_hook).to(acts_BTd.device, torch.float32)
        return (acts_BTd * w.unsqueeze(-1)).sum(dim=1) / w.sum(dim=1, keepdim=True).clamp_min(1.0)

    def _embed_features(self, feats: torch.Tensor) -> torch.Tensor:
        if self.text_space is not None:
            feats = torch.as_tensor(np.asarray(self.text_space.image_to_text(feats.cpu().numpy())), dtype=torch.float32)
        return F.normalize(feats.float(), dim=-1).to(self.model.device)

    @torch.no_grad()
    def embed(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        if self.text_space is None or not self._text_hook:
            return self._embed_features(self.features(px_B3HW))
        inputs = self._inputs(px_B3HW)
        acts_BTd = self.model.capture(inputs, [self._text_hook])[self._text_hook].float()
        return self._embed_features(self._pool_text(inputs, acts_BTd))

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        if self.text_space is not None:
            emb = torch.as_tensor(np.asarray(self.text_space.encode_texts(list(texts))), dtype=torch.float32)
        else:
            emb = self.model.embed_texts(list(texts)).float()
        return F.normalize(emb, dim=-1).to(self.model.device)
