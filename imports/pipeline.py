"""The chunk pipeline of an import: chunks parsed and built on a reader thread while the current
one is written. Threads and queues only; what a chunk means is imports.run's."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from imports import parsing
from products.services import ProductBatch, product_batch_build


@dataclass(slots=True)
class Chunk:
    records: int  # data records read, valid or not
    errors: list[parsing.RowError]
    batch: ProductBatch


# How long the reader waits for room before looking again whether it should stop.
_POLL_SECONDS = 0.1


@contextlib.contextmanager
def prepared_chunks(
    rows: Iterator[parsing.Row | parsing.RowError],
    size: int,
    columns: tuple[str, ...],
    stamp: Callable[[], datetime],
) -> Iterator[Iterator[Chunk]]:
    """Chunks of `size` records, parsed, validated and built into products on a second thread.

    Reading the CSV and building model instances is pure Python, and writing a chunk is mostly
    waiting for PostgreSQL, so the next chunk is prepared while the current one is written.
    At most two prepared chunks wait, so memory stays flat whatever the file size.
    """
    ready: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: Chunk | BaseException | None) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            while not stop.is_set() and (items := list(islice(rows, size))):
                valid = [item for item in items if type(item) is parsing.Row]
                errors = [item for item in items if type(item) is parsing.RowError]
                put(Chunk(len(items), errors, product_batch_build(rows=valid, columns=columns, stamp=stamp())))
            put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    def consume() -> Iterator[Chunk]:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    reader = threading.Thread(target=produce, name="import-reader", daemon=True)
    reader.start()
    try:
        yield consume()
    finally:
        stop.set()
        reader.join()
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # release the file before the caller closes it
