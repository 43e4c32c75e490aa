"""One module per SAE architecture, named as its arch (``topk.py`` holds ``arch="topk"``).

A module here subclasses ``saekit.sae.base.SAE`` with ``arch="<its file name>"``; that is all it takes
to add one: ``saekit.sae.registry`` lists this folder's module names (without importing them, so
``saekit train --help`` stays torch-free) and imports a module the first time its arch is asked for.
"""
