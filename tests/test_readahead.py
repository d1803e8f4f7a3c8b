"""Read-ahead (a stream's next pages fetched while the current one is stored) keeps a plain loop's
order, errors and clean-up."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from syncbridge.readahead import read_ahead


def test_pages_come_out_in_order_and_are_read_in_another_thread() -> None:
    readers: set[str] = set()

    def pages() -> Iterator[int]:
        for i in range(50):
            readers.add(threading.current_thread().name)
            yield i

    assert list(read_ahead(pages(), depth=2)) == list(range(50))
    assert readers == {"syncbridge-read-ahead"}


def test_an_error_in_the_reader_is_raised_by_the_consumer_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("vendor said no")

    got: list[int] = []
    with pytest.raises(ValueError, match="vendor said no"):
        for page in read_ahead(pages()):
            got.append(page)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_reader() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    stream = read_ahead(pages(), depth=2)
    for page in stream:
        if page == 3:
            break
    stream.close()  # what the for loop's owner does when storing a page fails
    assert closed.is_set()  # the reader's generator was closed before close() returned
    assert len(produced) <= 3 + 1 + 2 + 1  # read ahead by at most the queue depth, not the whole stream
    assert not any(t.name == "syncbridge-read-ahead" for t in threading.enumerate())


def test_idle_is_called_in_the_consumers_thread_when_the_next_item_is_slow() -> None:
    """A sync commits while it waits for a slow vendor page, so it holds no lock meanwhile."""
    import time

    calls: list[str] = []

    def pages() -> Iterator[int]:
        yield 1
        time.sleep(0.3)  # slower than idle_after
        yield 2

    got = list(
        read_ahead(pages(), idle=lambda: calls.append(threading.current_thread().name), idle_after=0.05)
    )
    assert got == [1, 2]
    assert calls and set(calls) == {threading.current_thread().name}


def test_fewer_collections_raises_the_young_threshold_while_any_sync_runs() -> None:
    import gc

    from syncbridge.readahead import fewer_collections

    before = gc.get_threshold()
    with fewer_collections(50_000):
        with fewer_collections(50_000):  # nested (two syncs at once): restored when the last one ends
            assert gc.get_threshold()[0] == max(50_000, before[0])
        assert gc.get_threshold()[0] == max(50_000, before[0])
    assert gc.get_threshold() == before
