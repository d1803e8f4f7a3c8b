"""Counting the vendor writes a thread sends.

The applier needs to know whether a connector's write method actually sent a write: most connector
writes look first and send nothing when the effect is already in the ATS (tags already applied, the
application already there, the requisition already open with that code).  Such an action is recorded as
*reconciled*, not as a new write (see :mod:`syncbridge.apply`).  The HTTP layer calls :func:`sent` for
every request that may change the vendor's data; the applier compares :func:`count` before and after.

The counter is per thread, because the applier runs actions in worker threads of one process.
"""

from __future__ import annotations

import threading

_local = threading.local()


def sent() -> None:
    """One write request reached the vendor (it answered, or the connection broke after sending)."""
    _local.count = getattr(_local, "count", 0) + 1


def count() -> int:
    """Write requests this thread has sent so far."""
    return int(getattr(_local, "count", 0))
