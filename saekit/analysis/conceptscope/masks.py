"""ConceptScope's concept-only and concept-removed images, built from SAE patch activations.

For one latent and one image the patch activations [gh, gw] are upsampled bilinearly to the
image's pixels, min-max normalised per image to m in [0, 1], and then

  concept-only    = image * m ** gamma_only        (gamma_only = 0.5: keeps the concept, dims the rest)
  concept-removed = image * (1 - m ** gamma_removed)  (gamma_removed = 0.001: m ** 0.001 is ~1 wherever
                                                       the latent is active at all, so this blacks out
                                                       the concept's whole footprint)

Everything is batched over images and latents: one call builds B x K images of each kind.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-10


def pixel_masks(patch_maps_BKgg: torch.Tensor, size_HW: tuple[int, int]) -> torch.Tensor:
    """Patch activations [B, K, gh, gw] -> per-image min-max normalised pixel masks [B, K, H, W] in [0, 1].

    A latent that is silent on an image gives an all-zero mask (max == min == 0)."""
    B, K, gh, gw = patch_maps_BKgg.shape
    maps = patch_maps_BKgg.float().clamp_min(0.0)
    up_BKHW = F.interpolate(maps, size=tuple(size_HW), mode="bilinear", align_corners=False)
    flat = up_BKHW.reshape(B, K, -1)
    lo = flat.amin(dim=-1, keepdim=True)
    hi = flat.amax(dim=-1, keepdim=True)
    norm = (flat - lo) / (hi - lo + _EPS)
    return norm.reshape(B, K, *size_HW)


def concept_only(pixels_B3HW: torch.Tensor, masks_BKHW: torch.Tensor, gamma: float = 0.5) -> torch.Tensor:
    """image x mask**gamma for every (image, latent): [B, K, 3, H, W], values in [0, 1]."""
    weights = masks_BKHW.pow(gamma).unsqueeze(2)
    return (pixels_B3HW.unsqueeze(1) * weights).clamp_(0.0, 1.0)


def concept_removed(pixels_B3HW: torch.Tensor, masks_BKHW: torch.Tensor, gamma: float = 0.001) -> torch.Tensor:
    """image x (1 - mask**gamma) for every (image, latent): [B, K, 3, H, W], values in [0, 1]."""
    weights = (1.0 - masks_BKHW.pow(gamma)).unsqueeze(2)
    return (pixels_B3HW.unsqueeze(1) * weights).clamp_(0.0, 1.0)
