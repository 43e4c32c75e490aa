"""ConceptScope (Choi et al., NeurIPS 2025): the `saekit audit` command, one room.

- ``config.py``: ``ConceptScopeConfig`` (the method's parameters) and ``AuditConfig`` (plus the command's
  inputs); torch-free, so `saekit audit --help` stays fast.
- ``run.py``: ``audit(cfg) -> AuditDocument``: opens the inputs once, runs the method, names, writes.
- ``method.py``: ``conceptscope(backend, samples, cfg)``, the method on any ``AuditBackend``;
  ``samples.py`` (labelled samples, class sampling, hold-out), ``categories.py`` (valid latents, split),
  ``alignment.py`` (image pass, masked copies), ``masks.py``, ``robustness.py`` + ``subgroups.py``
  (test sub-groups, accuracy), ``names.py`` (vocabulary names), ``backend.py`` (saekit model + SAE +
  text space as an ``AuditBackend``).
- ``result.py``: what the method returns (the document's types plus the arrays); ``document.py``: the
  ``AuditDocument`` from it; ``report.py``: examples/ and index.html, rendered from the document;
  ``summary.py``: the lines the CLI prints from it.

Import-light on purpose: import the submodule you need.
"""
