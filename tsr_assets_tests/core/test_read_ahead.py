"""read_ahead: order, bounded look-ahead, errors where they happen, and a clean stop."""

from __future__ import annotations

import threading
import time

import pytest

from tsr_assets.core.read_ahead import read_ahead


def test_items_come_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def items():
        for i in range(100):
            threads.add(threading.current_thread().name)
            yield i

    assert list(read_ahead(items(), depth=3, name="reader-under-test")) == list(range(100))
    assert threads == {"reader-under-test"}


def test_the_reader_stays_at_most_depth_items_ahead() -> None:
    produced: list[int] = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    consumed = 0
    for _ in read_ahead(items(), depth=2):
        consumed += 1
        time.sleep(0.01)  # give the reader time to run ahead as far as it may
        # depth queued + one waiting to be put + the one just handed over.
        assert len(produced) - consumed <= 3
    assert consumed == 50


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def items():
        yield 1
        yield 2
        raise OSError("disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_stops_the_reader() -> None:
    finished = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            finished.set()

    reader = read_ahead(endless(), depth=2, name="endless-reader")
    assert [next(reader) for _ in range(5)] == [0, 1, 2, 3, 4]
    reader.close()
    assert not any(t.name == "endless-reader" for t in threading.enumerate())
    assert finished.is_set()  # the generator was closed, not left suspended
