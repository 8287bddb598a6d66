"""Named points where crash tests stop a real `fundflow` process: with FUNDFLOW_PAUSE_AT=<name> and
FUNDFLOW_PAUSE_FILE=<path>, the process writes its pid to that file and sleeps there, so the test can
`kill -9` it at exactly that point. Unset (always, outside tests) a pause point is one environment lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_SECONDS = 600


def pause_point(name: str) -> None:
    if os.environ.get("FUNDFLOW_PAUSE_AT") != name:
        return
    marker = Path(os.environ["FUNDFLOW_PAUSE_FILE"])
    marker.write_text(str(os.getpid()))
    time.sleep(PAUSE_SECONDS)
