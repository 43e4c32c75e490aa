"""SAE evaluation: metric suites on held-out store rows, downstream fidelity, side-by-side comparison.

The package is callable as the `eval` command (``saekit.eval(EvalConfig(...))``, see
saekit.eval.command); names load on first use, so importing a config does not pay for torch.
Two commands live here: `eval` (config.EvalConfig, command.eval, summary.summarize) and `compare`
(config.CompareConfig, compare.compare returning saekit.results.CompareDocument, compare_report,
summary.summarize_compare); the metrics are one file each in metrics/ (registry.py)."""
from saekit.common.lazy import lazy_exports

__all__ = ["SUITE_NAMES", "CompareConfig", "EvalConfig", "Evaluation", "eval", "evaluate", "evaluate_downstream",
           "run_eval"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "SUITE_NAMES": "saekit.eval.config", "EvalConfig": "saekit.eval.config", "CompareConfig": "saekit.eval.config",
    "Evaluation": "saekit.eval.command", "eval": "saekit.eval.command",
    "evaluate": "saekit.eval.reconstruction", "evaluate_downstream": "saekit.eval.downstream",
    "run_eval": "saekit.eval.suite"}, command="eval")
