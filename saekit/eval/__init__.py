"""SAE evaluation: metric suites on held-out store rows, downstream fidelity, side-by-side comparison."""
from saekit.eval.downstream import evaluate_downstream
from saekit.eval.metrics import evaluate
from saekit.eval.suite import SUITES, EvalConfig, run_eval

__all__ = ["SUITES", "EvalConfig", "evaluate", "evaluate_downstream", "run_eval"]
