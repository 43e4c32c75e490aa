"""The effect of steering: the model run unsteered and once per strength (a dose-response sweep).

A readout turns the model's output into one number per sample (a class logit, the cosine to a
direction such as a concept's text embedding); for language models an effect function measures the
steered model directly (a log-probability, saekit.analysis.steering.text). ``dose_response`` returns
the sweep as rows of ``saekit.results.steering.DoseRow``, the rows of steer.json.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from saekit.analysis.steering.crosscoder import sae_input
from saekit.analysis.steering.edit import Positions, check_hook, normalize_latents, sae_dims, steer
from saekit.analysis.steering.plots import line_plot_png
from saekit.common.atomic import atomic_file
from saekit.common.errors import SaekitError
from saekit.results.steering import DoseRow, SteeringPlots

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from saekit.models.base import HookedModel
    from saekit.sae import SAE

log = logging.getLogger(__name__)

ModelInputs = dict[str, torch.Tensor]  # what model.prepare(samples) gives


Readout = Callable[[torch.Tensor], torch.Tensor]  # model output -> one number per sample [B]


def class_logit_readout(class_index: int) -> Readout:
    """Effect = the logit of one class (vision models with a head, or any [B, C] output)."""
    def read(out: torch.Tensor) -> torch.Tensor:
        out = out if out.dim() == 2 else out[:, 0]
        if not 0 <= class_index < out.shape[-1]:
            raise SaekitError(f"class index {class_index} is out of range for an output of width {out.shape[-1]}")
        return out[:, class_index].float()
    return read


def direction_readout(direction: torch.Tensor, cosine: bool = True) -> Readout:
    """Effect = cosine (or dot product) between the model's output embedding and a given direction,
    e.g. the text embedding of a concept in the model's text space."""
    def read(out: torch.Tensor) -> torch.Tensor:
        out = out if out.dim() == 2 else out[:, 0]
        d = direction.to(out.device, torch.float32).reshape(-1)
        if d.numel() != out.shape[-1]:
            raise SaekitError(f"concept direction has {d.numel()} dims but the model output has {out.shape[-1]}")
        o = out.float()
        if cosine:
            return torch.nn.functional.cosine_similarity(o, d[None], dim=-1)
        return o @ d
    return read


def measure_readout(model: HookedModel, inputs: ModelInputs, readout: Readout) -> torch.Tensor:
    with torch.no_grad():
        return readout(model.forward(inputs)).detach().cpu()


@dataclass(frozen=True)
class DoseResponse:
    """strength vs effect: steer.json's sweep (its rows are the document's DoseRow)."""

    latent: int
    mode: str
    effect_name: str
    hook: str
    value: float | None                 # clamp value / add scale (None for ablate)
    baseline: float                     # the unsteered effect
    rows: tuple[DoseRow, ...] = ()

    @property
    def strengths(self) -> list[float]:
        return [r.strength for r in self.rows]

    @property
    def effects(self) -> list[float]:
        return [r.effect for r in self.rows]

    def monotonic(self) -> bool:
        e = self.effects
        return all(b >= a for a, b in zip(e, e[1:])) or all(b <= a for a, b in zip(e, e[1:]))

    def with_generations(self, generations: Sequence[str]) -> DoseResponse:
        """The same sweep with a greedy generation per strength (language models)."""
        rows = tuple(replace(r, generation=g) for r, g in zip(self.rows, generations, strict=True))
        return replace(self, rows=rows)

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(x=self.strengths, y=[r.delta for r in self.rows], mode="lines+markers",
                                   name=f"latent {self.latent}"))
        fig.update_layout(title=f"dose-response: latent {self.latent} ({self.mode})", xaxis_title="strength",
                          yaxis_title=f"change in {self.effect_name}", template="plotly_white")
        return fig

    def save(self, out_dir: Path | str, stem: str = "dose_response") -> SteeringPlots:
        """Writes STEM.html (plotly) and STEM.png (drawn with PIL: no browser needed); returns their names."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        html = out_dir / f"{stem}.html"
        png = out_dir / f"{stem}.png"
        with atomic_file(html) as tmp:
            self.figure().write_html(str(tmp), include_plotlyjs="cdn", full_html=True)
        line_plot_png(png, self.strengths, [r.delta for r in self.rows],
                      title=f"latent {self.latent} ({self.mode}): change in {self.effect_name}",
                      xlabel="strength", ylabel="delta")
        return SteeringPlots(html=html.name, png=png.name)


def dose_response(
    model: HookedModel,
    hook: str,
    sae: SAE,
    latent: int,
    inputs: ModelInputs,
    strengths: Sequence[float] = (0.0, 1.0, 2.0, 4.0),
    mode: str = "clamp",
    value: float | None = None,
    positions: Positions = "all",
    readout: Readout | None = None,
    effect_fn: Callable[[], torch.Tensor] | None = None,
    effect_name: str = "effect",
    baseline: torch.Tensor | None = None,
) -> DoseResponse:
    """Run the model once unsteered and once per strength; effect = mean readout, delta = effect - baseline.
    ``baseline``: the unsteered readout when the caller already has it (saves that run).

    Either `readout` (applied to `model.forward(inputs)`) or `effect_fn` (a closure computing the
    effect per sample with the model as it currently is, e.g. a log-probability) must be given.
    `value` is the clamp value / the add scale (the latent's max activation); it is estimated from
    `inputs` when omitted.
    """
    if (readout is None) == (effect_fn is None):
        raise SaekitError("dose_response needs exactly one of readout= or effect_fn=")
    _, d_sae = sae_dims(sae)
    normalize_latents({latent: 0.0}, mode, d_sae)
    check_hook(model, hook, sae)
    if value is None and mode != "ablate":
        value = latent_max_activation(model, hook, sae, latent, inputs)

    def measure() -> torch.Tensor:
        if effect_fn is not None:
            with torch.no_grad():
                return effect_fn().detach().float().cpu()
        return measure_readout(model, inputs, readout)

    base = measure() if baseline is None else baseline.detach().float().cpu()
    base_mean = float(base.mean())
    rows = []
    for s in strengths:
        with steer(model, hook, sae, {latent: float(value or 0.0)}, mode=mode, positions=positions, strength=float(s)):
            eff = measure()
        rows.append(DoseRow(strength=float(s), effect=float(eff.mean()), delta=float((eff - base).mean()),
                            delta_std=float((eff - base).std()) if eff.numel() > 1 else 0.0))
        log.info("strength %.3g: effect %.4g (baseline %.4g)", s, rows[-1].effect, base_mean)
    return DoseResponse(latent=int(latent), mode=mode, effect_name=effect_name, hook=hook,
                        value=None if value is None else float(value), baseline=base_mean, rows=tuple(rows))


def latent_max_activation(model: HookedModel, hook: str, sae: SAE, latent: int, inputs: ModelInputs) -> float:
    """Max activation of `latent` over every token of `inputs` (the scale for add mode and the clamp default)."""
    with torch.no_grad():
        acts = sae_input(model, hook, sae, inputs)
        d_in, _ = sae_dims(sae)
        if acts.shape[-1] != d_in:
            raise SaekitError(f"activation at {hook} has width {acts.shape[-1]} but the SAE expects d_in={d_in}")
        z = sae.encode(acts.reshape(-1, acts.shape[-1]).to(sae.W_dec.dtype))
    m = float(z[:, latent].max())
    if m <= 0:
        log.warning("latent %d never fires on these inputs; using 1.0 as its scale", latent)
        return 1.0
    return m
