"""What `saekit quickstart` prints after the run: each step's time (or that it was reused), the report and
the command that opens the dashboard on the run."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from saekit.quickstart.run import dashboard_command

if TYPE_CHECKING:
    from saekit.quickstart.config import QuickstartConfig
    from saekit.quickstart.steps import StepResult


def summarize(result: tuple[Path, list[StepResult]], cfg: QuickstartConfig) -> None:
    report, steps = result
    for step in steps:
        print(f"  {step.name:<8} {'reused' if step.reused else f'{step.seconds:.1f} s'}")
    print(f"report: {report}")
    print(f"dashboard: {dashboard_command(cfg)}")
