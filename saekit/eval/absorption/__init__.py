"""Feature absorption (SAEBench's first-letter task, Chanin et al. 2024): see first_letter and run."""
from saekit.eval.absorption.first_letter import AbsorptionSettings, first_letter_absorption
from saekit.eval.absorption.run import feature_absorption

__all__ = ["AbsorptionSettings", "feature_absorption", "first_letter_absorption"]
