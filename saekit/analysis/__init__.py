"""Analyses on top of a trained SAE: latent summaries, naming, alignment, Monosemanticity Score,
ConceptScope, artifacts, steering.

Kept import-light on purpose: import the submodule you need (``saekit.analysis.summaries`` ...);
nothing heavy is imported here.
"""
