"""Long work in a background thread hands the GIL and the memory lock to whoever waits, slice by slice.

Python gives the GIL to a waiting thread only every 5 ms (the switch interval), and a released
lock goes to whichever thread asks first: a loop that re-takes the memory lock straight after
releasing it keeps a page's handler (and the log's writer, at each of its many SQLite calls)
waiting for the whole loop. A sleep of a tenth of a millisecond after each slice hands both over.
"""

from __future__ import annotations

import time

PAUSE_SECONDS = 0.0001


def let_waiting_threads_run() -> None:
    """Sleep a moment, so a thread waiting for the GIL or for a lock just released takes it now."""
    time.sleep(PAUSE_SECONDS)
