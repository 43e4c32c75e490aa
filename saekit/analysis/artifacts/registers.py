"""Register neurons and test-time registers (Jiang et al. 2025, "Vision Transformers Don't Need Trained Registers").

Register neurons: MLP neurons (`blocks.{i}.mlp.hook_post`, after the activation function) ranked
by their mean |activation| at the outlier positions of the detection layer (per image the mean
over its outlier tokens, then the mean over the images that have outliers), restricted to layers
<= the layer cap, top-k kept. The paper detects outliers at a late layer (its configs: the last or
second-to-last) with a fixed norm threshold and caps the layers just before outliers emerge; here
the outliers come from `saekit.analysis.artifacts.outliers` (fixed or automatic threshold) and the cap
defaults to the first layer whose resid_post shows outliers (inclusive: block L's MLP is what
writes the outliers into block L's output).

Test-time register: one extra token appended to the sequence (zeros by default; see
`saekit.models.extra_tokens`). The register neurons' activations at the patch tokens are set to
zero and the register token gets what the patches would have written, so the high-norm write lands
on the register instead of on the patches. What the register gets (``write``):
  "joint"       (default, the authors' released code) one value per layer and image: the signed
                maximum (the entry of largest magnitude, with its sign) over every token and every
                register neuron of that layer, written into all of that layer's register neurons;
  "per-neuron"  each register neuron gets its own maximum over the image's tokens (the paper's
                prose; what saekit did before).
"""
from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch

from saekit.common.errors import SaekitError
from saekit.results.artifacts import RegisterNeuron, TestTimeRegisters

if TYPE_CHECKING:
    from saekit.analysis.artifacts.config import ArtifactConfig
    from saekit.analysis.artifacts.outliers import ArtifactReport
    from saekit.data import Sample
    from saekit.models.hf_vision import HFVisionModel

log = logging.getLogger(__name__)


def _resolve_layer(layer: int, n_layers: int, what: str) -> int:
    out = layer + n_layers if layer < 0 else layer
    if not 0 <= out < n_layers:
        raise SaekitError(f"{what} {layer} is out of range (the model has {n_layers} layers)")
    return out


def find_register_neurons(model: HFVisionModel, samples: Sequence[Sample], report: ArtifactReport,
                          cfg: ArtifactConfig) -> list[RegisterNeuron]:
    """Top-k (layer, neuron) pairs by mean |activation| at the detection layer's outlier tokens."""
    from tqdm.auto import tqdm

    L = int(model.n_layers)
    detect = _resolve_layer(cfg.detect_layer, L, "detect layer")
    cap = report.first_outlier_layer if cfg.layer_cap is None else cfg.layer_cap
    if cap is None:
        raise SaekitError("no outlier tokens: register neurons need outliers (lower --threshold or use a model with artifacts)")
    cap = _resolve_layer(cap, L, "layer cap")
    masks = report.masks[:, detect]                 # [N, P]
    with_outliers = np.nonzero(masks.any(axis=1))[0]
    if with_outliers.size == 0:
        raise SaekitError(f"no outlier tokens at the detection layer {detect}; choose another detect layer")
    hooks = [f"blocks.{i}.mlp.hook_post" for i in range(cap + 1)]
    missing = [h for h in hooks if h not in set(model.hook_names())]
    if missing:
        raise SaekitError(f"{model.model_id} exposes no {missing[0]} (register neurons need MLP activations)")
    total: torch.Tensor | None = None
    n_images = 0
    chosen = [int(i) for i in with_outliers]
    for start in tqdm(range(0, len(chosen), cfg.batch_size), desc="artifacts: register neurons", leave=False):
        idx = chosen[start:start + cfg.batch_size]
        inputs = model.prepare([samples[i] for i in idx])
        acts = model.capture(inputs, hooks)
        pos = torch.nonzero(model.token_mask(inputs, "patches")[0]).flatten()
        m = torch.as_tensor(masks[idx], device=pos.device).float()          # [b, P]
        denom = m.sum(1, keepdim=True).clamp(min=1)
        per_layer = []
        for h in hooks:
            a = acts[h][:, pos].float().abs()                               # [b, P, M]
            per_layer.append(((a * m[..., None]).sum(1) / denom))           # [b, M]
        scores = torch.stack(per_layer, 1).sum(0)                           # [layers, M]
        total = scores if total is None else total + scores
        n_images += len(idx)
    mean = (total / n_images).cpu()
    flat = mean.flatten()
    k = min(cfg.top_k, flat.numel())
    vals, order = flat.topk(k)
    M = mean.shape[1]
    # neurons silent at every outlier (score 0) cannot be moving them: leave them out of the top-k
    return [RegisterNeuron(layer=int(o) // M, neuron=int(o) % M, score=float(v)) for v, o in zip(vals, order) if v > 0]


def _by_layer(neurons: Sequence[RegisterNeuron]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for n in neurons:
        out.setdefault(n.layer, []).append(n.neuron)
    return out


REGISTER_WRITES = ("joint", "per-neuron")


def register_values(act_BTK: torch.Tensor, write: str) -> torch.Tensor:
    """[B, K] values the register token gets at K register neurons from their activations [B, T, K]."""
    if write == "per-neuron":
        return act_BTK.max(dim=1).values
    flat = act_BTK.reshape(act_BTK.shape[0], -1)
    hi, lo = flat.max(dim=1).values, flat.min(dim=1).values
    joint = torch.where(hi.abs() >= lo.abs(), hi, lo)                     # the authors' sign_max, per image
    return joint[:, None].expand(-1, act_BTK.shape[2])


@contextlib.contextmanager
def use_test_time_registers(model: HFVisionModel, neurons: Sequence[RegisterNeuron], n_registers: int = 1,
                        init: str = "zeros", write: str = "joint") -> Iterator[None]:
    """Within the block, `model` runs with `n_registers` extra tokens (the last positions) that take
    over the register neurons' activations from the patch tokens (``write``: see the module docstring)."""
    from saekit.models.extra_tokens import extra_tokens

    if not neurons:
        raise SaekitError("no register neurons given (expected at least one (layer, neuron))")
    if write not in REGISTER_WRITES:
        raise SaekitError(f"register write {write!r} is not one of {', '.join(REGISTER_WRITES)}")
    n_prefix = int(getattr(model, "n_prefix_tokens", 1))
    layers = _by_layer(neurons)

    def shift(idx: list[int]) -> Callable[[torch.Tensor], torch.Tensor]:
        cols = torch.tensor(idx)

        def fn(act: torch.Tensor) -> torch.Tensor:
            c = cols.to(act.device)
            out = act.clone()
            peak = register_values(act[:, :, c], write)                     # [B, k] over every token
            out[:, -n_registers:, c] = peak[:, None, :].expand(-1, n_registers, -1)
            out[:, n_prefix:-n_registers, c] = 0                             # the patch tokens
            return out
        return fn

    with extra_tokens(model, n=n_registers, init=init):
        with model.hooks({f"blocks.{layer}.mlp.hook_post": shift(idx) for layer, idx in layers.items()}):
            yield


def evaluate_test_time_registers(model: HFVisionModel, samples: Sequence[Sample], report: ArtifactReport,
                                 neurons: Sequence[RegisterNeuron], cfg: ArtifactConfig) -> TestTimeRegisters:
    """Norms at the detection layer without and with a test-time register, on up to cfg.ttr_images
    images that have outliers: the outlier tokens' norms, the patch norms, and the register's norm."""
    L = int(model.n_layers)
    detect = _resolve_layer(cfg.detect_layer, L, "detect layer")
    masks = report.masks[:, detect]
    idx = [int(i) for i in np.nonzero(masks.any(axis=1))[0][: cfg.ttr_images]]
    if not idx:
        return TestTimeRegisters(skipped=f"no outlier tokens at layer {detect}")
    hook = f"blocks.{detect}.hook_resid_post"
    threshold = report.thresholds[detect]
    before_n, after_n, reg_n = [], [], []
    for start in range(0, len(idx), cfg.batch_size):
        chunk = idx[start:start + cfg.batch_size]
        inputs = model.prepare([samples[i] for i in chunk])
        pos = torch.nonzero(model.token_mask(inputs, "patches")[0]).flatten()
        before = model.capture(inputs, [hook])[hook]
        with use_test_time_registers(model, neurons, init=cfg.register_init, write=cfg.register_write):
            after = model.capture(inputs, [hook])[hook]
        before_n.append(before[:, pos].float().norm(dim=-1).cpu().numpy())
        after_n.append(after[:, pos].float().norm(dim=-1).cpu().numpy())
        reg_n.append(after[:, -1].float().norm(dim=-1).cpu().numpy())
    b = np.concatenate(before_n)
    a = np.concatenate(after_n)
    r = np.concatenate(reg_n)
    m = masks[idx]

    def side(norms: np.ndarray) -> dict[str, float | None]:
        flagged = norms > threshold if threshold is not None else np.zeros_like(norms, bool)
        return {"outlier_positions_norm_mean": float(norms[m].mean()), "outlier_positions_norm_max": float(norms[m].max()),
                "other_patches_norm_median": float(np.median(norms[~m])) if (~m).any() else None,
                "patch_norm_max": float(norms.max()), "n_outliers": int(flagged.sum()), "outlier_frac": float(flagged.mean())}

    after = {**side(a), "register_norm_mean": float(r.mean()), "register_norm_min": float(r.min())}
    return TestTimeRegisters(layer=detect, hook=hook, threshold=threshold, n_images=len(idx), init=cfg.register_init,
                             write=cfg.register_write, neurons=tuple(neurons), before=side(b), after=after)
