"""The commands: each is one library function taking one frozen config dataclass and returning one
result, and the CLI (`saekit COMMAND --flags`) is generated from the config's fields.

Adding a command is one entry in ``COMMANDS`` (or a call to ``register``): its name, its config
class and function as ``"module:attribute"`` strings (imported only when the command runs, so
``saekit --help`` stays instant), a one-line help, and optionally a ``report`` function
``report(result, config) -> None`` that prints the CLI's summary of the result.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    config: str                 # "module:ConfigClass"
    function: str               # "module:function", called as function(config) -> result
    help: str
    report: str | None = None   # "module:function", called as report(result, config) after a CLI run

    @staticmethod
    def _resolve(ref: str) -> Any:
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)

    def config_class(self) -> type:
        return self._resolve(self.config)

    def run(self, config: Any) -> Any:
        fn: Callable[[Any], Any] = self._resolve(self.function)
        return fn(config)

    def print_report(self, result: Any, config: Any) -> None:
        if self.report is not None:
            self._resolve(self.report)(result, config)


COMMANDS: dict[str, Command] = {}


def register(name: str, config: str, function: str, help: str, report: str | None = None) -> Command:
    """Add a command (replacing one of the same name)."""
    COMMANDS[name] = Command(name, config, function, help, report)
    return COMMANDS[name]


register("train", "saekit.train.config:TrainConfig", "saekit.train.command:run_training",
         "train a sparse autoencoder on an activation store", report="saekit.cli.reports:train")
register("compare", "saekit.eval.compare:CompareConfig", "saekit.eval.compare:compare",
         "compare SAEs on the same held-out rows of a store: one table and trade-off plots (compare.json, report.html)",
         report="saekit.cli.reports:compare")
register("align", "saekit.analysis.align_config:AlignRunConfig", "saekit.analysis.alignment:align_command",
         "fit a linear map from image features to a text-embedding space (or evaluate CLIP's own)",
         report="saekit.cli.reports:align")
register("quickstart", "saekit.quickstart:QuickstartConfig", "saekit.quickstart:run_quickstart",
         "capture, train, evaluate, align, name and report on the embedded default (DINOv2 ViT-S + bundled clipart)",
         report="saekit.cli.reports:quickstart")
register("name", "saekit.analysis.naming.command:NameConfig", "saekit.analysis.naming.command:name",
         "name SAE latents with a vocabulary (top examples, heatmaps, Monosemanticity Score)",
         report="saekit.cli.reports:name")
register("explain", "saekit.autointerp.config:ExplainConfig", "saekit.autointerp.explain:explain",
         "explain SAE latents with a (vision-)language model and score the explanations on held-out samples",
         report="saekit.cli.reports:explain")
register("export", "saekit.sae.formats:ExportConfig", "saekit.sae.formats:export",
         "export an SAE to the SAELens, sparsify or dictionary_learning checkpoint format",
         report="saekit.cli.reports:export")
