"""Read ahead: fetch (and map) the next pages of a stream while the current one is being stored.

A sync alternates between waiting for the vendor to build a page and storing it.  Done one after the
other, the time is the sum of both; with one page read ahead in a background thread it is about the
larger of the two: the socket wait, the vendor's own time and the SQLite/PostgreSQL work (which run
without the GIL) overlap with the Python work on the other side.

Order, memory and errors stay those of a plain loop: pages come out in order, at most ``depth`` pages
wait in the queue, an exception raised by the reader is raised by the consumer at the same point, and a
consumer that stops early (an error while storing) stops the reader and closes its generator, in the
reader's thread, before returning.
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(
    pages: Iterator[T],
    depth: int = 2,
    *,
    name: str = "syncbridge-read-ahead",
    idle: Callable[[], None] | None = None,
    idle_after: float = 0.2,
) -> Generator[T, None, None]:
    """Yield the items of ``pages`` while a background thread produces up to ``depth`` next ones.

    ``idle`` is called (in the consumer's thread) when the next item has not come after ``idle_after``
    seconds, before waiting on: a sync commits there, so it holds no lock while it waits for the vendor."""
    if depth < 1:
        yield from pages
        return
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=produce, name=name, daemon=True)
    reader.start()
    try:
        while True:
            try:
                item = slots.get(timeout=idle_after) if idle is not None else slots.get()
            except queue.Empty:
                idle()  # type: ignore[misc]
                item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue, then let it finish
            try:
                slots.get_nowait()
            except queue.Empty:
                reader.join(0.05)


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections(young: int = 50_000) -> Iterator[None]:
    """Run the block with the garbage collector's young generation collected every ``young`` allocations
    instead of every 700.

    A sync allocates a few dozen containers per record (the parsed JSON, the model, the row), nearly all
    freed by reference counting; with the default threshold the collector ran every few records and
    took a quarter of a sync's CPU, finding nothing.  Process-wide while any sync runs (the thresholds
    are global), restored when the last one ends."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(young, _gc_saved[0]), _gc_saved[1], _gc_saved[2])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
