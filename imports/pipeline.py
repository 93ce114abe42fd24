"""The chunk pipeline of an import: chunks parsed and built on a reader thread, and written on
one or more writer threads. Threads and queues only; what writing a chunk means is imports.run's."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import connections

from imports import parsing
from products.batches import ProductBatch, UpsertResult, product_batch_build


@dataclass(slots=True)
class Chunk:
    seq: int  # its place in the file: the seq-th chunk (the same on every run of the same file)
    records: int  # data records read, valid or not
    errors: list[parsing.RowError]
    batch: ProductBatch
    result: UpsertResult | None = None  # once written
    kept: list[parsing.RowError] | None = None  # its row errors that are stored (the rest only counted), once chosen


# How long the reader waits for room before looking again whether it should stop.
_POLL_SECONDS = 0.1
# A chunk ends after this many characters of product values even before `size` records, so a
# file of very long rows cannot fill memory with a few chunks of them.
CHUNK_CHARS = 16 << 20


def _take(rows: Iterator[parsing.Row | parsing.RowError], size: int) -> list[parsing.Row | parsing.RowError]:
    """The next chunk's records: `size` of them, or fewer holding CHUNK_CHARS characters of values."""
    items: list[parsing.Row | parsing.RowError] = []
    chars = 0
    for item in rows:
        items.append(item)
        if type(item) is parsing.Row:
            chars += len(item.sku) + len(item.name) + len(item.description or "")
        if len(items) >= size or chars >= CHUNK_CHARS:
            break
    return items


@contextlib.contextmanager
def prepared_chunks(
    rows: Iterator[parsing.Row | parsing.RowError],
    size: int,
    columns: tuple[str, ...],
    stamp: Callable[[], datetime],
    *,
    first: int = 0,
    skip: Collection[int] = (),
) -> Iterator[Iterator[Chunk]]:
    """Chunks of `size` records, parsed, validated and built into products on a second thread.

    Reading the CSV and building model instances is pure Python, and writing a chunk is mostly
    waiting for PostgreSQL, so the next chunk is prepared while the current one is written.
    A chunk is `size` records, or fewer when they hold CHUNK_CHARS of values, and at most two
    prepared chunks wait, so memory stays flat whatever the file. `rows` begin at chunk number
    `first`; chunks whose number is in `skip` (committed before a crash) are read past, not built.
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
            seq = first
            while not stop.is_set() and (items := _take(rows, size)):
                if seq not in skip:
                    valid = [item for item in items if type(item) is parsing.Row]
                    errors = [item for item in items if type(item) is parsing.RowError]
                    batch = product_batch_build(rows=valid, columns=columns, stamp=stamp())
                    put(Chunk(seq, len(items), errors, batch))
                seq += 1
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


class WriterFailed(Exception):
    """Another writer failed; the chunk was not written."""


class EarlierBusy(Exception):
    """The earlier chunks a chunk shares SKUs with did not commit while its transaction waited."""


@dataclass(slots=True, frozen=True)
class Overlap:
    """What a chunk shares with earlier chunks still being written: `keys`, the SKU keys they
    also write, and `wait`, which returns once they have committed (or raises EarlierBusy)."""

    keys: frozenset[str]
    wait: Callable[[], None]


# The longest a chunk waits for an earlier chunk that shares SKUs with it to commit.
_ORDER_WAIT_SECONDS = 600.0
# The longest it waits with its own transaction open; past it, the transaction is rolled back
# and the chunk written whole once the earlier one has committed.
_IN_TRANSACTION_WAIT_SECONDS = 5.0


def written_chunks(
    chunks: Iterator[Chunk],
    write: Callable[[Chunk, Overlap | None], None],
    writers: int,
    *,
    alone: Callable[[], bool] = lambda: True,
) -> Iterator[Chunk]:
    """Write each chunk with `write` (one transaction each), on `writers` threads with their own
    database connections, and yield each chunk once it has committed.

    Chunks commit in any order. A chunk sharing SKUs with earlier chunks still in flight is
    written with an Overlap: it writes its other products at once, then waits for those chunks
    to commit before writing the shared ones, so a later row always wins and counts are those of
    a sequential run, while both writers keep working (in files where a SKU comes again a few
    thousand rows later, most chunks share one or two with the chunk before; waiting for it
    before starting made imports half as fast again). Such a chunk locks its rows in two runs of
    key order, not one, so it can deadlock with another writer of the same products: PostgreSQL
    sees that and stops one, which is tried again. The wait happens inside the chunk's
    transaction, so it is bounded: if the earlier chunks have not committed within
    _IN_TRANSACTION_WAIT_SECONDS (another import may hold their rows, and be waiting for this
    one's, a cycle PostgreSQL cannot see), the transaction is rolled back, and the chunk waits
    with no transaction open and is then written whole. While `alone()` is false (other imports
    are writing), where such cycles are likely, a chunk waits for the earlier ones before it
    begins instead.
    When the consumer stops early, chunks already begun still commit.
    """
    if writers <= 1:
        for chunk in chunks:
            write(chunk, None)
            yield chunk
        return
    state = threading.Condition()
    in_flight: dict[int, frozenset[str]] = {}
    done: queue.Queue[Chunk] = queue.Queue()
    failed: list[BaseException] = []
    stopping = threading.Event()

    def take() -> tuple[Chunk, list[int], frozenset[str]] | None:
        with state:
            if stopping.is_set() or failed:
                return None
            chunk = next(chunks, None)
            if chunk is None:
                return None
            keys = frozenset(chunk.batch.keys)
            earlier = [seq for seq, other in in_flight.items() if not keys.isdisjoint(other)]
            shared = frozenset[str]().union(*(keys & in_flight[seq] for seq in earlier))
            in_flight[chunk.seq] = keys
            return chunk, earlier, shared

    def wait_for(earlier: list[int], seconds: float = _ORDER_WAIT_SECONDS, *, inside: bool = False) -> None:
        deadline = time.monotonic() + seconds
        with state:
            while any(seq in in_flight for seq in earlier):
                if failed:
                    raise WriterFailed
                left = deadline - time.monotonic()
                if left <= 0:
                    if inside:
                        raise EarlierBusy
                    raise TimeoutError(f"an earlier chunk did not commit within {seconds:.0f} s")
                state.wait(timeout=min(1.0, left))

    def work() -> None:
        try:
            while (taken := take()) is not None:
                chunk, earlier, shared = taken
                if not earlier:
                    write(chunk, None)
                elif not alone():
                    wait_for(earlier)
                    write(chunk, None)
                else:
                    try:
                        wait = partial(wait_for, earlier, _IN_TRANSACTION_WAIT_SECONDS, inside=True)
                        write(chunk, Overlap(shared, wait))
                    except EarlierBusy:
                        wait_for(earlier)
                        write(chunk, None)
                with state:
                    del in_flight[chunk.seq]
                    state.notify_all()
                done.put(chunk)
        except BaseException as exc:
            with state:
                failed.append(exc)
                state.notify_all()
        finally:
            connections.close_all()  # this thread's own connections

    threads = [threading.Thread(target=work, name=f"import-writer-{n}", daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads) or not done.empty():
            try:
                yield done.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
    real = [exc for exc in failed if not isinstance(exc, WriterFailed)]
    if real:
        raise real[0]
