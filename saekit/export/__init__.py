"""`saekit export`: an SAE written in another library's checkpoint format.

The package itself is callable as `export` (``saekit.export(ExportConfig(...))``); names load on first use."""
from saekit.common.lazy import lazy_exports

__all__ = ["ExportConfig", "export"]
__getattr__, __dir__ = lazy_exports(__name__, {"ExportConfig": "saekit.export.config", "export": "saekit.export.run"},
                                    command="export")
