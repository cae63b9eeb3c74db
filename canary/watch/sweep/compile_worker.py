"""Child process of :func:`canary.watch.sweep.search.compile_apart`: patterns on stdin, database on stdout.

stdin: the engine name, a newline, then each pattern as a 4-byte big-endian length and its bytes.
"""

from __future__ import annotations

import sys

from canary.watch.sweep.search import compile_blob


def main() -> None:
    data = sys.stdin.buffer.read()
    engine, _, rest = data.partition(b"\n")
    patterns, position = [], 0
    while position < len(rest):
        length = int.from_bytes(rest[position:position + 4], "big")
        patterns.append(rest[position + 4:position + 4 + length])
        position += 4 + length
    sys.stdout.buffer.write(compile_blob(engine.decode(), patterns))


if __name__ == "__main__":
    main()
