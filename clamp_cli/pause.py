"""Named pause points, so that tests can interrupt clamp at an exact moment instead of after a sleep.

With CLAMP_PAUSE_AT=NAME in the environment, the process prints "clamp: paused at NAME" to
stderr when it reaches that point and waits there until a signal ends it. Without the
variable a pause point costs one dictionary lookup. Points: load (model loading), convert
(a file converted), encode (before a model batch), write (before results are committed).
"""

from __future__ import annotations

import os
import sys
import time


def pause_point(name: str) -> None:
    if os.environ.get("CLAMP_PAUSE_AT") != name:
        return
    os.environ.pop("CLAMP_PAUSE_AT")  # once per process
    print(f"clamp: paused at {name}", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.05)
