"""The main job: capture -> train -> evaluate -> align -> name -> report, each step resumable
(`config.py` the flags, `run.py` the steps, `steps.py` the resumable step runner, `report.py` the HTML
report, `summary.py` what the CLI prints).

The package itself is callable as its command (``saekit.quickstart(QuickstartConfig(...))`` runs
``run_quickstart``); names load on first use."""
from saekit.common.lazy import lazy_exports

__all__ = ["QuickstartConfig", "QuickstartPaths", "dashboard_command", "run_quickstart"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "QuickstartConfig": "saekit.quickstart.config", "QuickstartPaths": "saekit.quickstart.config",
    "dashboard_command": "saekit.quickstart.run", "run_quickstart": "saekit.quickstart.run"}, command="run_quickstart")
