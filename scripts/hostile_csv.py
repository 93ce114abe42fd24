#!/usr/bin/env python3
"""Single-line CSVs that would run a reader holding whole records out of memory, for the tests,
the concurrency benchmark and trying the admin by hand: a header, then one line of `megabytes` MB.

    python3 scripts/hostile_csv.py giant-field 500 giant.csv   # one quoted field of 500 MB
    python3 scripts/hostile_csv.py ab 500 ab.csv                # ab,ab,ab,... over 500 MB

Standard library only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# name -> (what comes first, the piece repeated on the long line, what ends it)
SHAPES: dict[str, tuple[bytes, bytes, bytes]] = {
    "giant-field": (b'sku,name,description\nS-1,one,"', b"x", b'"\n'),
    "ab": (b"sku,name\n", b"ab,", b"ab\n"),
}


def write_single_line(path: Path, shape: str, megabytes: int) -> Path:
    """Write the file of that shape, a megabyte at a time."""
    head, piece, tail = SHAPES[shape]
    block = piece * ((1 << 20) // len(piece))
    with path.open("wb") as f:
        f.write(head)
        for _ in range(megabytes):
            f.write(block)
        f.write(tail)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("megabytes", type=int)
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    write_single_line(args.path, args.shape, args.megabytes)


if __name__ == "__main__":
    main()
