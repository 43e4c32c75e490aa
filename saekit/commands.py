"""The commands: each is one library function taking one frozen config dataclass and returning one
result, and the CLI (`saekit COMMAND --flags`) is generated from the config's fields.

Adding a command is one ``register`` call below: its name, its config class and function as
``"module:attribute"`` strings (imported only when the command runs, so ``saekit --help`` stays
instant), a one-line help, and optionally

- ``report``: ``"module:function"``, ``report(result, config) -> None`` prints the CLI's summary of
  the result; by default the function of ``saekit.cli.reports`` named like the command (spaces as
  underscores), ``""`` for none;
- ``json=True``: the command gets ``--json``, which prints the result as one JSON object instead
  (``result.to_json()`` when the result has it, else the result itself);
- ``shortcuts``: flags that do something else with a few of the config's fields and exit (e.g.
  ``capture --list-hooks`` needs only ``--model``); fields without a default are then required
  only when no shortcut is given.

A name with a space (``"store info"``) is an action of a command group (``saekit store info``);
the group's own help is in ``GROUPS``.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable


def resolve(ref: str) -> Any:
    """The object named by ``"module:attribute"``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclasses.dataclass(frozen=True)
class Shortcut:
    flag: str                   # e.g. "--list-hooks"
    help: str
    function: str               # "module:function", called with the config fields named in `fields`
    fields: tuple[str, ...]     # config fields passed to it as keyword arguments


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    config: str                 # "module:ConfigClass"
    function: str               # "module:function", called as function(config) -> result
    help: str
    report: str | None = None   # "module:function", called as report(result, config) after a CLI run
                                # (None: saekit.cli.reports.<name>; "": no report)
    json: bool = False          # give the command --json (print the result as JSON instead of the report)
    shortcuts: tuple[Shortcut, ...] = ()
    requires: str | None = None  # a top-level package the command needs; left out of the CLI without it

    def config_class(self) -> type:
        return resolve(self.config)

    def run(self, config: Any) -> Any:
        fn: Callable[[Any], Any] = resolve(self.function)
        return fn(config)

    def print_report(self, result: Any, config: Any) -> None:
        ref = self.report if self.report is not None else "saekit.cli.reports:" + self.name.replace(" ", "_")
        if ref:
            resolve(ref)(result, config)


COMMANDS: dict[str, Command] = {}
#: command groups (the first word of a command name with a space) -> their one-line help
GROUPS: dict[str, str] = {}


def register(name: str, config: str, function: str, help: str, report: str | None = None, *, json: bool = False,
             shortcuts: tuple[Shortcut, ...] = (), requires: str | None = None) -> Command:
    """Add a command (replacing one of the same name)."""
    COMMANDS[name] = Command(name, config, function, help, report, json, shortcuts, requires)
    return COMMANDS[name]


GROUPS["store"] = "inspect (info) or check (verify) an activation store file or shard directory"
register("store info", "saekit.store_commands:StoreInfoConfig", "saekit.store_commands:store_info",
         "hooks with rows, d, dtype; samples; model; format version; completeness", json=True)
register("store verify", "saekit.store_commands:StoreVerifyConfig", "saekit.store_commands:store_verify",
         "check lengths, committed counts, sample ids and every chunk; exit 2 on damage")
register("capture", "saekit.capture.config:CaptureConfig", "saekit.capture.run:capture",
         "capture hook activations of a model on a dataset into an activation store",
         shortcuts=(Shortcut("--list-hooks", "print the model's hook names and exit",
                             "saekit.cli.reports:list_hooks", ("model", "device")),))
register("train", "saekit.train.config:TrainConfig", "saekit.train.command:run_training",
         "train a sparse autoencoder on an activation store")
register("eval", "saekit.eval.config:EvalConfig", "saekit.eval.command:eval",
         "evaluate an SAE on held-out samples: --suite core (L0, FVE, dead/dense, density), vision, text or all "
         "(sparse probing, preservation, spatial coherence, MS, stability, ...)",
         report="saekit.cli.reports:evaluation", json=True)
register("compare", "saekit.eval.config:CompareConfig", "saekit.eval.compare:compare",
         "compare SAEs on the same held-out rows of a store: one table and trade-off plots (compare.json, report.html)")
register("align", "saekit.analysis.align_config:AlignRunConfig", "saekit.analysis.alignment:align_command",
         "fit a linear map from image features to a text-embedding space (or evaluate CLIP's own)")
register("name", "saekit.analysis.naming.command:NameConfig", "saekit.analysis.naming.command:name",
         "name SAE latents with a vocabulary (top examples, heatmaps, Monosemanticity Score)")
register("quickstart", "saekit.quickstart:QuickstartConfig", "saekit.quickstart:run_quickstart",
         "capture, train, evaluate, align, name and report on the embedded default (DINOv2 ViT-S + bundled clipart)")
register("audit", "saekit.analysis.audit:AuditConfig", "saekit.analysis.audit:audit",
         "ConceptScope dataset audit: target, context and bias concepts per class from an SAE, "
         "robustness sub-groups (writes audit.json + index.html)", json=True)
register("artifacts", "saekit.analysis.artifacts_config:ArtifactsConfig", "saekit.analysis.artifacts_command:artifacts",
         "detect high-norm artifact tokens per layer, register neurons and test-time registers "
         "(writes artifacts.json + index.html)", json=True)
register("steer", "saekit.analysis.steer_command:SteerConfig", "saekit.analysis.steer_command:steer",
         "steer a model with an SAE latent (clamp / add / ablate) over a strength sweep; writes steer.json + a "
         "dose-response plot")
register("explain", "saekit.autointerp.config:ExplainConfig", "saekit.autointerp.explain:explain",
         "explain SAE latents with a (vision-)language model and score the explanations on held-out samples")
register("export", "saekit.export_command:ExportConfig", "saekit.export_command:export",
         "export an SAE to the SAELens, sparsify or dictionary_learning checkpoint format")
# The dashboard sits a layer above saekit (docs/architecture.md): its config and function live
# in dashboards/, named here only as strings (no saekit module imports dashboards); the command is
# left out of the CLI when the dashboards package is not installed.
register("dashboard", "dashboards.cli:DashboardConfig", "dashboards.cli:dashboard",
         "browse an SAE in the Dash feature browser (latents, names, audit, artifacts, steering)",
         report="", requires="dashboards")
