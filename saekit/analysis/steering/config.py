"""The config of `saekit steer` (import-light: the CLI builds its flags without loading torch)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Union

from saekit.common.errors import SaekitError

#: token positions to steer at: "all", a list of indices (negative ones count from the end) or a slice
PositionSpec = Union[str, list[int], slice]

SAE_SPEC = ("SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:; "
            "PATH may be hf:REPO[@REV]/PATH)")


@dataclass(frozen=True)
class SteerConfig:
    model: str  # model spec (hf:..., offline:smollm2-135m, random:gpt2, ...)
    sae: str = field(metadata={"help": SAE_SPEC})
    latent: int  # latent index to steer
    out: str  # output directory
    hook: str | None = None  # hook to steer at (default: the hook the SAE was trained on)
    mode: str = "clamp"  # clamp the latent to the value, add value x direction, or ablate it
    value: float | None = None  # clamp value / add scale (default: the latent's max activation on the inputs)
    strengths: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0)  # steering strengths, comma-separated
    positions: str = "all"  # all, comma-separated token indices (e.g. 0,-1) or a slice START:STOP
    prompt: str | None = None  # a text prompt (language models); give this or --data
    data: str | None = None  # a dataset (images for vision models, texts for language models); give this or --prompt
    limit: int = 16  # number of samples from --data
    concept: str | None = None  # LLM: measure log p(concept | prompt); CLIP: measure cosine to the concept's text embedding
    class_index: int | None = None  # vision model with a head: measure this class's logit
    max_new_tokens: int = 20  # LLM: greedy generation length per strength
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N

    CLI: ClassVar[dict[str, dict]] = {"mode": {"choices": ("clamp", "add", "ablate")}}

    def __post_init__(self) -> None:
        object.__setattr__(self, "strengths", tuple(float(s) for s in self.strengths))
        if not self.strengths:
            raise SaekitError("--strengths is empty (expected e.g. 0,1,2,4)")
        if (self.prompt is None) == (self.data is None):
            raise SaekitError("give one of --prompt (a text) or --data (a dataset)")
        if self.mode not in ("clamp", "add", "ablate"):
            raise SaekitError(f"--mode must be clamp, add or ablate, got {self.mode!r}")
        parse_positions(self.positions)


def parse_positions(text: str) -> PositionSpec:
    """"all", a list of token indices ("0,-1") or a slice ("1:5")."""
    text = text.strip()
    if text == "all":
        return "all"
    try:
        if ":" in text:
            a, _, b = text.partition(":")
            return slice(int(a) if a else None, int(b) if b else None)
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SaekitError(f"--positions {text!r} is not 'all', a list of indices (0,-1) or a slice (1:5)") from None
