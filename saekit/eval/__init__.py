"""SAE evaluation: reconstruction metrics on a store and downstream fidelity in the model."""
from saekit.eval.downstream import evaluate_downstream
from saekit.eval.metrics import evaluate

__all__ = ["evaluate", "evaluate_downstream"]
