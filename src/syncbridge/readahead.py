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

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(
    pages: Iterator[T], depth: int = 2, *, name: str = "syncbridge-read-ahead"
) -> Generator[T, None, None]:
    """Yield the items of ``pages`` while a background thread produces up to ``depth`` next ones."""
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


def batched(items: Iterable[T], weight: Callable[[T], int], limit: int) -> Iterator[list[T]]:
    """Consecutive items grouped until their total ``weight`` reaches ``limit`` (the last group may be
    lighter).  A sync writes a group of pages in one transaction: a commit costs about the same for 100
    rows as for 2,000 (the pages every insert touches are written to the log once per commit)."""
    group: list[T] = []
    total = 0
    for item in items:
        group.append(item)
        total += weight(item)
        if total >= limit:
            yield group
            group, total = [], 0
    if group:
        yield group
