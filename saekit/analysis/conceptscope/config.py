"""The audit's configs: ``ConceptScopeConfig`` (the method's parameters) and ``AuditConfig`` (the
`saekit audit` command: those parameters plus its inputs), torch-free so that `saekit audit --help`
reads them without importing torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from saekit.analysis.conceptscope import categories as cc
from saekit.common.errors import SaekitError

SIMILARITIES = ("auto", "cosine", "shifted")  # image-text similarity of the alignment ratios (alignment.py)
CLASSIFIERS = ("none", "probe", "zero-shot", "logits")  # classifiers for the accuracy per robustness sub-group


@dataclass(frozen=True)
class ConceptScopeConfig:
    """The method's parameters (docs/conceptscope.md: each default, and where it departs from the paper)."""

    alpha: float = 1.0  # target if z-score of the alignment within the class >= alpha (the authors' run script)
    n_per_class: int = 128  # images sampled per class for the alignment scores
    top_k: int = 20  # latents per class, by class-mean activation
    validity: str = "relative"  # "relative": active above active_threshold x the latent's own max; "absolute": paper
    active_threshold: float = 0.5  # activity threshold for valid latents (see validity)
    min_active_images: int = 1  # valid: active on more than this many images
    noisy_freq: float = 0.9  # noisy: fires (> 0) on more than this fraction of the images of every class
    bias_rule: str = "lift"  # "lift": lift >= min_lift and class-vs-rest AUC >= min_auc; "paper": sigma rule
    min_lift: float = 2.0  # rule "lift": class mean / mean over the other classes
    min_auc: float = 0.7  # rule "lift": class-vs-rest AUC of the image-level activation
    sigma: float = 1.0  # rule "paper": bias if class mean >= mean + sigma * std of the context latents' means
    similarity: str = "auto"  # "cosine" (paper, CLIP towers), "shifted" = (1 + cos) / 2 (fitted maps), "auto"
    gamma_only: float = 0.5  # concept-only image = image x mask ** gamma_only (keeps the concept, dims the rest)
    gamma_removed: float = 0.001  # concept-removed image = image x (1 - mask ** gamma_removed)
    prompt: str = "{}"  # class text; "{}" is the class name with underscores as spaces (the paper's)
    min_images_per_class: int = 5  # minimum audited images per class
    n_examples: int = 4  # example images per concept in the report
    subgroup_clip: float = 3.0  # sub-groups: z-scores are clipped to +-this
    subgroup_threshold: float = 0.0  # sub-groups: a concept is present above this z-score
    batch_size: int = 32  # images per model forward (image-level and test passes)
    mask_batch_size: int = 128  # masked copies per model forward (2x less time per copy than 32 on a 2-core CPU)
    cache_mb: int = 1024  # memory for the sampled images' hook activations (reused instead of a second forward)
    seed: int = 0  # seed of the image sampling and the test hold-out

    def __post_init__(self) -> None:
        if self.n_per_class < 1:
            raise SaekitError(f"--per-class must be >= 1, got {self.n_per_class}")
        if self.top_k < 1:
            raise SaekitError(f"--top-k must be >= 1, got {self.top_k}")
        if self.sigma < 0:
            raise SaekitError(f"--sigma must be >= 0, got {self.sigma}")
        if self.validity not in cc.VALIDITY_RULES:
            raise SaekitError(f"--validity must be one of {', '.join(cc.VALIDITY_RULES)}, got {self.validity!r}")
        if self.validity == "relative" and not 0.0 <= self.active_threshold < 1.0:
            raise SaekitError(f"--active-threshold is a fraction of each latent's maximum with --validity relative: "
                              f"it must be in [0, 1), got {self.active_threshold}")
        cc.BiasRule(self.bias_rule)  # one-line error for an unknown rule
        if self.similarity not in SIMILARITIES:
            raise SaekitError(f"--similarity must be one of {', '.join(SIMILARITIES)}, got {self.similarity!r}")
        if self.min_images_per_class < 2:
            raise SaekitError(f"min_images_per_class must be >= 2 (a std needs two images), got {self.min_images_per_class}")
        if self.batch_size < 1 or self.mask_batch_size < 1:
            raise SaekitError(f"--batch-size and --mask-batch-size must be >= 1, got {self.batch_size}, "
                              f"{self.mask_batch_size}")
        if "{}" not in self.prompt:
            raise SaekitError(f"--prompt must contain '{{}}' where the class name goes, got {self.prompt!r}")

    @property
    def bias(self) -> cc.BiasRule:
        return cc.BiasRule(self.bias_rule, self.min_lift, self.min_auc, self.sigma)


@dataclass(frozen=True)
class AuditConfig(ConceptScopeConfig):
    """The `saekit audit` command: every field of ConceptScopeConfig (the method's parameters) plus its inputs."""

    model: str = ""  # image model spec the SAE was trained on (hf:..., random:clip, offline:dinov2-small)
    data: str = ""  # labelled image dataset: a folder with one sub-folder per class, hfds:DIR, bundled:clipart
    sae: str = ""  # SAE (trained on patch or all tokens): a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:)
    out: str = ""  # output directory
    text_space: str | None = None  # a `saekit align` output directory (needed for encoders without a text tower) or a CLIP model spec; default: the model's own text tower
    classifier: str = "none"  # accuracy per sub-group: probe = logistic regression on pooled features, zero-shot = nearest class text, logits = the model's class head
    test_data: str | None = None  # test images for the sub-groups (default: hold out --test-frac of --data)
    test_frac: float | None = None  # fraction of each class held out as test images without --test-data (default 0.2; 0: no sub-groups)
    names: str | None = None  # directory of `saekit name` output (names.json) for concept names
    vocab: str = "default"  # without --names: name concepts by the closest word of this vocabulary file ('default': the shipped one, 'none': 'latent N')
    hook: str | None = None  # hook to read (default: the SAE's own hook; must match it)
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N

    #: the command-line spelling the audit always had (saekit.cli.configcli)
    CLI: ClassVar[dict[str, dict[str, object]]] = {
        # required although the fields have defaults (a dataclass base with defaults forces them)
        "model": {"required": True}, "data": {"required": True}, "sae": {"required": True}, "out": {"required": True},
        "n_per_class": {"flag": "--per-class"},
        "min_images_per_class": {"flag": "--min-per-class"}, "n_examples": {"flag": "--examples"},
        "classifier": {"choices": CLASSIFIERS}, "validity": {"choices": cc.VALIDITY_RULES},
        "bias_rule": {"choices": cc.BIAS_RULES}, "similarity": {"choices": SIMILARITIES}}

    def __post_init__(self) -> None:
        super().__post_init__()
        for what in ("model", "data", "sae", "out"):
            if not getattr(self, what):
                raise SaekitError(f"audit needs --{what}")
        if self.test_data is not None and self.test_frac is not None:
            raise SaekitError("give either --test-data or --test-frac, not both")

    @property
    def held_out_frac(self) -> float:
        """The fraction of each class held out as test images without --test-data (default 0.2)."""
        return 0.2 if self.test_frac is None else self.test_frac

    def method(self) -> ConceptScopeConfig:
        """The method's parameters alone."""
        names = ConceptScopeConfig.__dataclass_fields__
        return ConceptScopeConfig(**{k: getattr(self, k) for k in names})
