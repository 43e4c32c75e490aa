"""Lazy package exports and callable packages (``stores.lazy``, the lowest layer, re-exported)."""
from stores.lazy import CallableModule, lazy_exports  # noqa: F401

__all__ = ["CallableModule", "lazy_exports"]
