"""How a runner with nothing to do waits: until woken, stopped, or its poll comes round."""

from __future__ import annotations

import threading
import time

# A stop sets `stop`, not the runner's wake event: waiting in slices this long notices it.
SLICE_SECONDS = 0.1


def nap(stop: threading.Event, wake: threading.Event, seconds: float) -> None:
    """Wait until `wake` or `stop` is set or `seconds` have passed; the caller clears
    `wake`."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or wake.wait(min(left, SLICE_SECONDS)):
            return
