"""The console's downloads go through the `fundflow export` handler (reports/), so a file downloaded from the
browser is made, masked and audited exactly like one exported from the terminal.

"""

from __future__ import annotations

import argparse
import importlib
from datetime import datetime
from pathlib import Path

from pipelines.cli import HANDLERS
from pipelines.errors import FundflowError
from pipelines.settings import Settings

# what → (Chinese title, file suffix); the suffix picks the format in the export handler.
KINDS = {"leads": ("线索清单", ".xlsx"), "campaign": ("专项行动统计表", ".xlsx"), "dossier": ("线索卷宗", ".html")}


def _handler():
    module_name, function_name = HANDLERS["export"].split(":")
    return getattr(importlib.import_module(module_name), function_name)


def export(settings: Settings, what: str, user: str, lead_id: str | None = None,
           period: str | None = None) -> Path:
    """Write one masked export under <home>/exports/console/ and return its path."""
    if what not in KINDS:
        raise FundflowError(f"没有这种导出 / export '{what}' is not available")
    if what == "dossier" and not lead_id:
        raise FundflowError("导出卷宗须指明线索 / a dossier needs a lead")
    folder = settings.exports / "console"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
    out = folder / f"{what}{'-' + lead_id if lead_id else ''}-{user}-{stamp}{KINDS[what][1]}"
    args = argparse.Namespace(what=what, lead=lead_id, out=str(out), unmasked=False, reason=None, user=user,
                              period=period, home=str(settings.home), debug=False)
    code = _handler()(args, settings)
    if code or not out.exists():
        raise FundflowError(f"导出失败 / export failed: {what}")
    return out
