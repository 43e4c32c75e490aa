"""Activation capture: `capture(CaptureConfig(...))` writes hook activations into an activation store."""
from saekit.capture.config import DTYPES, CaptureConfig
from saekit.capture.run import CaptureResult, TokenFilter, capture

__all__ = ["capture", "CaptureConfig", "CaptureResult", "TokenFilter", "DTYPES"]
