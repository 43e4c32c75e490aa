"""Activation capture: `capture(CaptureConfig(...))` writes hook activations into an activation store.

The package itself is callable as `capture` (``saekit.capture(CaptureConfig(...))``); names load on first use."""
from saekit.common.lazy import lazy_exports

__all__ = ["capture", "CaptureConfig", "CaptureResult", "TokenFilter", "DTYPES"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "CaptureConfig": "saekit.capture.config", "DTYPES": "saekit.capture.config",
    "CaptureResult": "saekit.capture.run", "TokenFilter": "saekit.capture.run", "capture": "saekit.capture.run"},
    command="capture")
