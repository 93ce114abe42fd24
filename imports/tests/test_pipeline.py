"""The writer threads of an import (imports.pipeline.written_chunks), on their own: which chunk
waits for which, and when. No database: `write` stands for a chunk's transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from imports import pipeline
from imports.pipeline import Chunk, EarlierBusy, Overlap, written_chunks
from products.batches import product_batch_build


def chunk(seq: int, *skus: str) -> Chunk:
    rows = [SimpleNamespace(sku=sku, name=f"{sku} {seq}", description=None, active=None) for sku in skus]
    batch = product_batch_build(rows=rows, columns=("name",), stamp=datetime(2026, 1, 1, second=seq, tzinfo=UTC))
    return Chunk(seq, len(rows), [], batch)


def test_a_chunk_sharing_skus_with_one_in_flight_is_written_beside_it_and_told_which_skus_to_write_last():
    first_may_commit = threading.Event()
    overlaps: dict[int, Overlap | None] = {}
    order: list[str] = []

    def write(chunk: Chunk, overlap: Overlap | None) -> None:
        overlaps[chunk.seq] = overlap
        if chunk.seq == 0:
            assert first_may_commit.wait(5), "the second chunk never began while the first was in flight"
            order.append("0 committed")
        else:
            assert overlap is not None
            order.append("1 wrote the others")
            first_may_commit.set()
            overlap.wait()  # returns once chunk 0 has committed
            order.append("1 wrote the shared")

    written = [c.seq for c in written_chunks(iter([chunk(0, "A", "B"), chunk(1, "b", "C")]), write, writers=2)]
    assert sorted(written) == [0, 1]
    assert overlaps[0] is None
    assert overlaps[1] is not None and overlaps[1].keys == {"b"}  # "B" and "b" are the same SKU
    assert order == ["1 wrote the others", "0 committed", "1 wrote the shared"]


def test_a_chunk_whose_earlier_chunk_does_not_commit_in_time_gives_up_its_transaction_and_is_written_whole_after(
    monkeypatch,
):
    monkeypatch.setattr(pipeline, "_IN_TRANSACTION_WAIT_SECONDS", 0.2)
    gave_up = threading.Event()
    calls: list[tuple[int, bool]] = []

    def write(chunk: Chunk, overlap: Overlap | None) -> None:
        calls.append((chunk.seq, overlap is not None))
        if chunk.seq == 0:  # held up (by another import's rows, say) until chunk 1 gave up waiting
            assert gave_up.wait(5)
        elif overlap is not None:
            try:
                overlap.wait()
            except EarlierBusy:
                gave_up.set()
                raise

    written = [c.seq for c in written_chunks(iter([chunk(0, "A"), chunk(1, "a")]), write, writers=2)]
    assert written == [0, 1]
    assert [call for call in calls if call[0] == 1] == [(1, True), (1, False)]


def test_a_writer_that_fails_stops_the_others_and_its_error_is_raised():
    def write(chunk: Chunk, overlap: Overlap | None) -> None:
        if chunk.seq == 1:
            raise RuntimeError("chunk 1 failed")

    with pytest.raises(RuntimeError, match="chunk 1 failed"):
        list(written_chunks(iter([chunk(seq, f"S{seq}") for seq in range(20)]), write, writers=2))


def test_beside_other_imports_a_chunk_sharing_skus_waits_before_it_begins():
    writing: set[int] = set()
    seen: dict[int, tuple[bool, set[int]]] = {}

    def write(chunk: Chunk, overlap: Overlap | None) -> None:
        seen[chunk.seq] = (overlap is not None, set(writing))
        writing.add(chunk.seq)
        threading.Event().wait(0.05)
        writing.discard(chunk.seq)

    chunks = iter([chunk(0, "A"), chunk(1, "a")])
    assert sorted(c.seq for c in written_chunks(chunks, write, writers=2, alone=lambda: False)) == [0, 1]
    assert seen[1] == (False, set()), "chunk 1 began while chunk 0 was being written"
