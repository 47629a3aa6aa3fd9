"""Run an iterator on a background thread, a few items ahead of its consumer.

Used where reading (parquet decoding, which releases the GIL) would otherwise take turns with
the work done on each item: the reader keeps going while the consumer works or writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from queue import Empty, Full, Queue
from typing import TypeVar

T = TypeVar("T")
_END = object()
_POLL_S = 0.05


def read_ahead(items: Iterable[T], depth: int = 2, name: str = "read-ahead") -> Iterator[T]:
    """The items of `items` in order, produced on a thread at most `depth` items ahead.

    An exception raised by `items` is raised here, at the item where it happened. When the
    consumer stops early (break, exception, close), the thread stops and closes `items`.
    """
    queue: Queue = Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=_POLL_S)
                return True
            except Full:
                continue
        return False

    iterator = iter(items)

    def produce() -> None:
        try:
            for item in iterator:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((False, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:  # a generator left early releases its files now
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            ok, item = queue.get()
            if not ok:
                raise item  # type: ignore[misc]
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:
                queue.get(timeout=_POLL_S)
            except Empty:
                continue
        thread.join()
